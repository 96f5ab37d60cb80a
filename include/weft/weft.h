/*
 * weft.h -- the umbrella header of libweft.
 *
 *   <weft/types.h>       errors, node ids, addresses, allocator, randomness
 *   <weft/engine.h>      the sans-IO kernel: sessions, messages, events
 *   <weft/module.h>      how a protocol module plugs into the engine
 *   <weft/membership.h>  SWIM + Lifeguard membership (a module)
 *   <weft/registry.h>    the hash registry's local index and search
 *   <weft/crypto.h>      the crypto interface and its libsodium backend
 *
 * Drivers have their own headers: <weft/uv.h> (libuv sockets and timers),
 * <weft/discovery.h> (LAN beacons), <weft/keys.h> (key files),
 * <weft/sim.h> (the deterministic simulator).
 */
#ifndef WEFT_WEFT_H
#define WEFT_WEFT_H

#include <weft/types.h>
#include <weft/engine.h>
#include <weft/module.h>
#include <weft/membership.h>
#include <weft/registry.h>
#include <weft/crypto.h>
#include <weft/store.h>
#include <weft/kv.h>

#endif /* WEFT_WEFT_H */
