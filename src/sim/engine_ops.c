/*
 * engine_ops.c -- weft_sim_engine_ops: the simulator's view of a
 * weft_engine.  Thin wrappers that cast the opaque node pointer back to the
 * engine and call its sans-IO entry points (weft_engine_recv / _write /
 * _expiry / _handle_expiry, include/weft/weft.h).  Scenarios that also
 * need to poll engine events after each call wrap these in their own ops.
 */
#include "weft/sim.h"

static int eng_recv(void *node, const weft_addr *from, const uint8_t *pkt,
                    size_t len, uint64_t now_us)
{
    return weft_engine_recv(node, from, pkt, len, now_us);
}

static ptrdiff_t eng_write(void *node, weft_addr *to, uint8_t *buf,
                           size_t cap, uint64_t now_us)
{
    return weft_engine_write(node, to, buf, cap, now_us);
}

static uint64_t eng_expiry(void *node)
{
    return weft_engine_expiry(node);
}

static int eng_handle_expiry(void *node, uint64_t now_us)
{
    return weft_engine_handle_expiry(node, now_us);
}

const weft_sim_node_ops weft_sim_engine_ops = {
    eng_recv, eng_write, eng_expiry, eng_handle_expiry,
};
