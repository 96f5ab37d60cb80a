/*
 * table.c -- the member table: every member this node remembers (alive,
 * suspect, and dead or left ones for dead_retain_ms), ourselves apart.
 *
 * An array of records kept in random order: probing walks it round-robin
 * and reshuffles it after each full round, and a new member is swapped
 * into a random slot, so that every member is probed once per round and
 * the order is unpredictable (SWIM §4.3, "round-robin probe target
 * selection"; memberlist state.go).  `slots` is an open-addressing hash
 * (linear probing, backward-shift deletion) from node id to array index,
 * salted per instance so that chosen ids cannot build long chains.
 * Lookups are O(1); a reshuffle rehashes, O(N) once per round.
 */
#include "base/slots.h"
#include "membership/swim_internal.h"

static uint32_t slot_of(const weft__swim_table *t, const weft_node_id *id)
{
    uint64_t h = (weft__swim_short_id(id) ^ t->hash_salt) * 0x9e3779b97f4a7c15ULL;
    return (uint32_t)(h >> 32) & (t->slots_cap - 1);
}

static int slot_holds(const weft__swim_table *t, uint32_t i, const weft_node_id *id)
{
    return weft__swim_id_eq(&t->members[t->slots[i] - 1].id, id);
}

weft__swim_member *weft__swim_table_find(const weft__swim_table *t, const weft_node_id *id)
{
    if (!t->slots_cap)
        return NULL;
    for (uint32_t i = slot_of(t, id);; i = (i + 1) & (t->slots_cap - 1)) {
        if (!t->slots[i])
            return NULL;
        if (slot_holds(t, i, id))
            return &t->members[t->slots[i] - 1];
    }
}

/* The slot holding id, or the empty slot ending its chain. */
static uint32_t slot_pos(const weft__swim_table *t, const weft_node_id *id)
{
    uint32_t i = slot_of(t, id);
    while (t->slots[i] && !slot_holds(t, i, id))
        i = (i + 1) & (t->slots_cap - 1);
    return i;
}

/* Points id's slot at index idx, inserting when absent.  The table has
 * room (load factor <= 1/2 is kept by grow()). */
static void slot_set(weft__swim_table *t, const weft_node_id *id, uint32_t idx)
{
    t->slots[slot_pos(t, id)] = idx + 1;
}

static uint32_t home_of(const void *ctx, uint32_t idx)
{
    const weft__swim_table *t = ctx;
    return slot_of(t, &t->members[idx].id);
}

/* Removes id's slot (base/slots.h: backward-shift deletion). */
static void slot_del(weft__swim_table *t, const weft_node_id *id)
{
    uint32_t i = slot_pos(t, id);
    if (t->slots[i])
        weft__slots_delete(t->slots, t->slots_cap - 1, i, home_of, t);
}

static void rehash(weft__swim_table *t)
{
    if (!t->slots_cap)
        return; /* no member yet */
    memset(t->slots, 0, t->slots_cap * sizeof *t->slots);
    for (uint32_t k = 0; k < t->n; k++)
        slot_set(t, &t->members[k].id, k);
}

/* Makes room for one more member.  0 or WEFT_ERR_NOMEM. */
static WEFT__SWIM_WUR int grow(weft__swim_table *t)
{
    if (t->n + 1 > t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 16;
        weft__swim_member *m = weft__realloc(t->alloc, t->members, cap * sizeof *m);
        if (!m)
            return WEFT_ERR_NOMEM;
        t->members = m;
        t->cap = cap;
    }
    if ((t->n + 1) * 2 > t->slots_cap) {
        uint32_t cap = t->slots_cap ? t->slots_cap * 2 : 32;
        uint32_t *sl = weft__calloc(t->alloc, cap * sizeof *sl);
        if (!sl)
            return WEFT_ERR_NOMEM;
        weft__free(t->alloc, t->slots);
        t->slots = sl;
        t->slots_cap = cap;
        rehash(t);
    }
    return 0;
}

weft__swim_member *weft__swim_table_add(weft__swim_table *t, const weft_node_id *id,
                                        weft__swim_rng *rng)
{
    if (grow(t) < 0)
        return NULL;
    uint32_t n = t->n++;
    weft__swim_member *m = &t->members[n];
    memset(m, 0, sizeof *m);
    m->id = *id;
    slot_set(t, id, n);
    uint32_t j = weft__swim_rnd_below(rng, n + 1);
    if (j != n) {
        /* find both slots before the swap: slots are matched through the
         * array, which the swap changes */
        uint32_t pn = slot_pos(t, &t->members[n].id);
        uint32_t pj = slot_pos(t, &t->members[j].id);
        weft__swim_member tmp = t->members[j];
        t->members[j] = t->members[n];
        t->members[n] = tmp;
        t->slots[pn] = j + 1;
        t->slots[pj] = n + 1;
    }
    return &t->members[j];
}

void weft__swim_table_remove(weft__swim_table *t, weft__swim_member *m)
{
    uint32_t i = (uint32_t)(m - t->members), last = t->n - 1;
    slot_del(t, &m->id);
    weft__free(t->alloc, m->meta);
    if (i != last) {
        /* last's slot is found while members[last] is still intact */
        t->slots[slot_pos(t, &t->members[last].id)] = i + 1;
        t->members[i] = t->members[last];
    }
    t->n--;
}

void weft__swim_table_shuffle(weft__swim_table *t, weft__swim_rng *rng)
{
    for (uint32_t i = t->n; i > 1; i--) {
        uint32_t j = weft__swim_rnd_below(rng, i);
        weft__swim_member tmp = t->members[i - 1];
        t->members[i - 1] = t->members[j];
        t->members[j] = tmp;
    }
    rehash(t);
}

void weft__swim_table_free(weft__swim_table *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        weft__free(t->alloc, t->members[i].meta);
    weft__free(t->alloc, t->members);
    weft__free(t->alloc, t->slots);
    t->members = NULL;
    t->slots = NULL;
    t->n = t->cap = t->slots_cap = 0;
}

uint32_t weft__swim_table_pick(const weft__swim_table *t, weft__swim_rng *rng,
                               weft__swim_member **out, uint32_t k,
                               const weft_node_id *exclude,
                               int (*ok)(const weft__swim_member *m, const void *ctx),
                               const void *ctx)
{
    uint32_t got = 0;
    if (!t->n)
        return 0;
    for (uint32_t tries = 0; tries < 3 * k + 8 && got < k; tries++) {
        weft__swim_member *m = &t->members[weft__swim_rnd_below(rng, t->n)];
        if (!ok(m, ctx) || (exclude && weft__swim_id_eq(&m->id, exclude)))
            continue;
        int dup = 0;
        for (uint32_t i = 0; i < got; i++)
            dup |= out[i] == m;
        if (!dup)
            out[got++] = m;
    }
    return got;
}

int weft__swim_is_alive(const weft__swim_member *m, const void *ctx)
{
    (void)ctx;
    return m->state == WEFT__SWIM_ALIVE;
}

int weft__swim_is_dead(const weft__swim_member *m, const void *ctx)
{
    (void)ctx;
    return m->state == WEFT__SWIM_DEAD;
}

void weft__swim_member_claim(const weft__swim_member *m, weft__swim_claim *c)
{
    memset(c, 0, sizeof *c);
    c->id = m->id;
    c->inc = m->claim_inc;
    c->addr = m->addr;
    c->meta = m->meta;
    c->meta_len = m->meta_len;
    c->sig = m->sig;
}

void weft__swim_member_info_fill(const weft__swim_member *m, int is_self,
                                 weft__swim_member_info *out)
{
    memset(out, 0, sizeof *out);
    out->id = m->id;
    out->addr = m->addr;
    out->state = m->state;
    out->incarnation = m->inc;
    out->rtt_us = m->rtt_us;
    out->last_contact_us = m->last_contact_us;
    out->is_self = is_self;
    weft__swim_meta_split(m->meta, m->meta_len, &out->name, &out->name_len, &out->status,
                          &out->status_len, &out->tags, &out->tags_len);
}
