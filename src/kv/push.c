/*
 * push.c -- the propagation stand-in (push.h): deltas to a random subset
 * of the alive members over the engine's sessions, until pub/sub lands.
 */
#include <string.h>

#include "weft/kv.h"
#include "weft/membership.h"
#include "weft/module.h"
#include "kv/push.h"

static int usable(const weft_member *m)
{
    return !m->is_self && (m->state == WEFT_MEMBER_ALIVE || m->state == WEFT_MEMBER_SUSPECT);
}

static uint32_t rnd(weft_engine *e, uint32_t n)
{
    uint8_t b[4];
    weft_host_random(e, b, 4);
    uint32_t v = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 |
                 (uint32_t)b[3] << 24;
    return n ? v % n : 0;
}

int weft__kv_push_send(weft_engine *e, const uint8_t *msg, size_t len, uint32_t fanout,
                       uint64_t *bytes, uint64_t now_us)
{
    size_t n = weft_membership_count(e), alive = 0;
    weft_member m;
    for (size_t i = 0; i < n; i++)
        if (weft_membership_at(e, i, &m) == 0 && usable(&m))
            alive++;
    if (!alive)
        return 0;
    /* choose `fanout` of `alive` uniformly: selection sampling (Knuth
     * TAOCP 3.4.2, Algorithm S) in one pass */
    uint32_t need = fanout < alive ? fanout : (uint32_t)alive, sent = 0;
    size_t left = alive;
    for (size_t i = 0; i < n && need; i++) {
        if (weft_membership_at(e, i, &m) < 0 || !usable(&m))
            continue;
        if (rnd(e, (uint32_t)left--) < need) {
            need--;
            weft_node_id to = m.id;
            if (weft_engine_send(e, &to, WEFT_KV_CHANNEL_PUSH, msg, len,
                                 WEFT_PRIO_HIGH | WEFT_SEND_ORDERED, now_us) > 0) {
                sent++;
                *bytes += len;
            }
        }
    }
    return (int)sent;
}

int weft__kv_pick_member(weft_engine *e, weft_node_id *out)
{
    size_t n = weft_membership_count(e), alive = 0;
    weft_member m;
    for (size_t i = 0; i < n; i++)
        if (weft_membership_at(e, i, &m) == 0 && usable(&m))
            alive++;
    if (!alive)
        return WEFT_ERR_NOT_FOUND;
    uint32_t k = rnd(e, (uint32_t)alive);
    for (size_t i = 0; i < n; i++) {
        if (weft_membership_at(e, i, &m) < 0 || !usable(&m))
            continue;
        if (k-- == 0) {
            *out = m.id;
            return 0;
        }
    }
    return WEFT_ERR_NOT_FOUND;
}
