/*
 * push.h -- how a local write reaches the other members at once: the one
 * place that knows the transport of deltas.
 *
 * Today (stand-in until topic pub/sub lands in main): the PUSH message is
 * sent on channel WEFT_KV_CHANNEL_PUSH, over the engine's reliable
 * sessions (opened on demand through membership), to up to `fanout`
 * alive members drawn at random.  Members it misses are repaired by
 * anti-entropy.  Switching to pub/sub is this file: publish the message on
 * the store's topic and hand what arrives to weft__kv_on_push().
 */
#ifndef WEFT_KV_PUSH_H
#define WEFT_KV_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "weft/engine.h"

/* Sends msg to up to fanout alive members (self excluded).  Returns the
 * number of members it was queued for (>= 0); *bytes adds what was
 * queued. */
int weft__kv_push_send(weft_engine *e, const uint8_t *msg, size_t len, uint32_t fanout,
                       uint64_t *bytes, uint64_t now_us);
/* A random alive member other than self into *out: 0 or
 * WEFT_ERR_NOT_FOUND. */
int weft__kv_pick_member(weft_engine *e, weft_node_id *out);

#endif
