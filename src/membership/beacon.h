/*
 * beacon.h -- the LAN beacon codec (sans-IO): a small signed announcement
 * "node <id> of mesh <mesh id> listens at <addresses>" that weftd sends by
 * UDP broadcast and multicast on the interfaces the user names
 * (src/uv/discovery.c owns the sockets).  A receiver that verifies it only
 * learns an address to try: the join itself goes through authenticated
 * membership (docs/MEMBERSHIP.md), so a forged or replayed beacon can at
 * worst make a node send a sealed join to some address.  Wire layout in
 * docs/DISCOVERY.md §3.
 */
#ifndef WEFT_CORE_BEACON_H
#define WEFT_CORE_BEACON_H

#include <stddef.h>
#include <stdint.h>

#include "weft/crypto.h"
#include "weft/weft.h"

#define WEFT__BEACON_VERSION 1
#define WEFT__BEACON_ADDRS_MAX 4       /* advertised addresses per beacon */
#define WEFT__BEACON_HEADER_BYTES 56   /* magic .. seq */
#define WEFT__BEACON_BYTES_MAX (WEFT__BEACON_HEADER_BYTES + \
                                WEFT__BEACON_ADDRS_MAX * 19 + WEFT_SIG_BYTES)
#define WEFT__MESH_ID_BYTES 8

typedef struct weft__beacon {
    uint8_t mesh_id[WEFT__MESH_ID_BYTES]; /* weft__beacon_mesh_id() */
    weft_node_id id;                      /* the sender; it signs */
    uint64_t seq;                         /* increasing per sender */
    weft_addr addrs[WEFT__BEACON_ADDRS_MAX]; /* IPv4/IPv6, port set */
    size_t naddrs;                        /* 1..WEFT__BEACON_ADDRS_MAX */
} weft__beacon;

/* mesh id = first 8 bytes of BLAKE2b-512("weft-mesh-id-v1" || network_key).
 * It names the mesh without revealing the key (a preimage would need the
 * 32-byte key; a passphrase-derived key is only as strong as the phrase). */
void weft__beacon_mesh_id(const weft_crypto *c, const uint8_t network_key[32],
                          uint8_t out[WEFT__MESH_ID_BYTES]);

/*
 * Encodes b and signs it with sk (Ed25519 seed || public key, whose public
 * half must be b->id).  Returns the datagram length, WEFT_ERR_INVAL (no or
 * too many addresses, an address of another family or without a port) or
 * WEFT_ERR_BUFSMALL.
 */
ptrdiff_t weft__beacon_encode(const weft_crypto *c, const weft__beacon *b,
                              const uint8_t sk[64], uint8_t *buf, size_t cap);

/*
 * Decodes and verifies a received datagram.  Checks are ordered cheapest
 * first: layout, then mesh id, then the signature.  Returns 0 (out filled),
 * WEFT_ERR_PROTO (not a beacon, or malformed), WEFT_ERR_VERSION,
 * WEFT_ERR_WRONG_MESH (mesh id differs from mesh_id) or
 * WEFT_ERR_BAD_SIGNATURE.
 */
int weft__beacon_decode(const weft_crypto *c, const uint8_t *buf, size_t len,
                        const uint8_t mesh_id[WEFT__MESH_ID_BYTES],
                        weft__beacon *out);

#endif
