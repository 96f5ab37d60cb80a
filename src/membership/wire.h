/*
 * wire.h -- the membership wire layouts (docs/MEMBERSHIP.md §2-§4): the
 * sealed packet, the payload, and one create/consume pair per message.
 *
 * Nothing here knows the member table: a create function writes a layout
 * from plain values through a weft__wr, a consume function reads one
 * through a weft__rd (sticky errors, no bare offsets) and returns 0 or
 * WEFT_ERR_PROTO.  Message bodies may carry bytes after the fields we know
 * (a later version may append some); consumers ignore them, except for
 * ALIVE, whose body is exactly one claim.  Sizes are named here and tied
 * together with _Static_assert in wire.c.
 */
#ifndef WEFT_MEMBERSHIP_WIRE_H
#define WEFT_MEMBERSHIP_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "base/cursor.h"
#include "membership/swim.h"
#include "weft/crypto.h"

/* Message types inside the decrypted payload (docs/MEMBERSHIP.md §4). */
enum weft__swim_msg_type {
    WEFT__SWIM_MSG_PING = 0x01,
    WEFT__SWIM_MSG_PING_REQ = 0x02,
    WEFT__SWIM_MSG_ACK = 0x03,
    WEFT__SWIM_MSG_NACK = 0x04,
    WEFT__SWIM_MSG_ALIVE = 0x10,
    WEFT__SWIM_MSG_SUSPECT = 0x11,
    WEFT__SWIM_MSG_DEAD = 0x12,
    WEFT__SWIM_MSG_LEAVE = 0x13,
    WEFT__SWIM_MSG_PUSHPULL = 0x20
};

/* PUSHPULL flags (§4.9). */
enum {
    WEFT__SWIM_PP_REQUEST = 0x01, /* answer with your full state */
    WEFT__SWIM_PP_JOIN = 0x02,    /* informational */
    WEFT__SWIM_PP_CLAIM = 0x04    /* answer with one packet: your claim */
};

#define WEFT__SWIM_ADDR_BYTES 23     /* family, port, scope, ip[16] */
#define WEFT__SWIM_MSG_HDR_BYTES 3   /* type u8, length u16 */
#define WEFT__SWIM_SEQ_BYTES 4       /* ACK, NACK body */
#define WEFT__SWIM_PING_BYTES 36     /* seq, target id */
#define WEFT__SWIM_PING_REQ_BYTES 59 /* seq, target id, target addr */
#define WEFT__SWIM_ACCUSE_BYTES 68   /* SUSPECT, DEAD: id, inc, from id */
#define WEFT__SWIM_LEAVE_BYTES 100   /* id, inc, signature */
#define WEFT__SWIM_PAYLOAD_HDR_BYTES 32 /* sender id */
/* claim: id, inc, addr, meta, signature */
#define WEFT__SWIM_CLAIM_FIXED_BYTES (32 + 4 + WEFT__SWIM_ADDR_BYTES + 64)
#define WEFT__SWIM_META_EMPTY_BYTES 4 /* name_len, status_len, tags_len u16 */
#define WEFT__SWIM_META_MAX_BYTES (1 + WEFT__SWIM_NAME_MAX + 1 + WEFT__SWIM_STATUS_MAX + \
                                   2 + WEFT__SWIM_TAGS_MAX)
#define WEFT__SWIM_CLAIM_MAX_BYTES (WEFT__SWIM_CLAIM_FIXED_BYTES + WEFT__SWIM_META_MAX_BYTES)
/* push-pull entry: state u8, inc u32, then a claim or (LEFT) id + sig */
#define WEFT__SWIM_PP_ENTRY_HDR_BYTES 5
#define WEFT__SWIM_PP_LEFT_BYTES (WEFT__SWIM_PP_ENTRY_HDR_BYTES + 32 + 64)
/* the smallest update a piggyback carries (SUSPECT/DEAD with header) */
#define WEFT__SWIM_UPDATE_MIN_BYTES (WEFT__SWIM_MSG_HDR_BYTES + WEFT__SWIM_ACCUSE_BYTES)

/* Signature contexts (16 bytes each, NUL padded), docs §4.5, §4.8. */
extern const char weft__swim_alive_ctx[16];
extern const char weft__swim_leave_ctx[16];

/* A signed alive claim (docs §4.5).  Filled by weft__swim_claim_consume
 * with pointers into the received bytes, or by the caller from a member
 * record before weft__swim_claim_create. */
typedef struct weft__swim_claim {
    weft_node_id id;
    uint32_t inc;
    weft_addr addr;
    const uint8_t *meta;     /* wire form (name, status, tags); NULL = empty */
    size_t meta_len;
    const uint8_t *sig;      /* 64 bytes */
    const uint8_t *body;     /* consume: the whole encoded claim ... */
    size_t body_len;         /* ... signature included */
} weft__swim_claim;

/* SUSPECT and DEAD bodies: `from` accuses `id` at incarnation inc. */
typedef struct weft__swim_accuse {
    weft_node_id id;
    uint32_t inc;
    weft_node_id from;
} weft__swim_accuse;

/* PING and PING_REQ bodies (PING has no addr). */
typedef struct weft__swim_ping {
    uint32_t seq;
    weft_node_id target;
    weft_addr addr;
} weft__swim_ping;

/* LEAVE body, and a LEFT push-pull entry. */
typedef struct weft__swim_leave_msg {
    weft_node_id id;
    uint32_t inc;
    const uint8_t *sig;      /* 64 bytes */
} weft__swim_leave_msg;

/* One push-pull entry (§4.9): state 0..2 with a claim, or 3 with a leave. */
typedef struct weft__swim_pp_entry {
    uint8_t state;           /* enum weft__swim_state */
    uint32_t inc;
    weft__swim_claim claim;  /* state < LEFT */
    weft__swim_leave_msg leave;  /* state == LEFT */
} weft__swim_pp_entry;

/* ---- the sealed packet (§2) ---------------------------------------------- */

/* Membership key MK = BLAKE2b-256(key = network_key, "weft-swim-v1"). */
void weft__swim_key_derive(const weft_crypto *cr, const uint8_t network_key[32],
                           uint8_t mkey[32]);

/* Seals plaintext pt into buf (room for ptlen + WEFT__SWIM_OVERHEAD
 * bytes): type, version, a fresh salt from rand, AEAD under
 * BLAKE2b(key = mkey, salt).  Returns the datagram length. */
size_t weft__swim_seal(const weft_crypto *cr, const weft_rand *rand,
                       const uint8_t mkey[32], uint8_t *buf, const uint8_t *pt,
                       size_t ptlen);

/* Checks the clear header of a datagram: 0, WEFT_ERR_PROTO (not ours, or
 * shorter than a sealed sender id) or WEFT_ERR_VERSION. */
int weft__swim_header_check(const uint8_t *pkt, size_t len);

/* Opens a datagram whose header passed weft__swim_header_check into pt
 * (len - WEFT__SWIM_OVERHEAD bytes).  Returns 0 or WEFT_ERR_DECRYPT. */
int weft__swim_open(const weft_crypto *cr, const uint8_t mkey[32],
                    const uint8_t *pkt, size_t len, uint8_t *pt);

/* ---- the payload (§3) ---------------------------------------------------- */

/* Sender id: the payload's first 32 bytes. */
void weft__swim_payload_create(weft__wr *w, const weft_node_id *sender);
int weft__swim_payload_consume(weft__rd *r, weft_node_id *sender);

/* Reads the next message header and splits its body off r: returns 1
 * (type and body set), 0 at the end of the payload, or WEFT_ERR_PROTO
 * when a header or body runs past it. */
int weft__swim_msg_next(weft__rd *r, int *type, weft__rd *body);

/* ---- messages (§4): create writes header and body ------------------------ */

void weft__swim_seq_create(weft__wr *w, int type, uint32_t seq); /* ACK, NACK */
int weft__swim_seq_consume(weft__rd *r, uint32_t *seq);

void weft__swim_ping_create(weft__wr *w, const weft__swim_ping *m);
int weft__swim_ping_consume(weft__rd *r, weft__swim_ping *m);
void weft__swim_ping_req_create(weft__wr *w, const weft__swim_ping *m);
int weft__swim_ping_req_consume(weft__rd *r, weft__swim_ping *m);

void weft__swim_accuse_create(weft__wr *w, int type, const weft__swim_accuse *m);
int weft__swim_accuse_consume(weft__rd *r, weft__swim_accuse *m);

void weft__swim_leave_create(weft__wr *w, const weft__swim_leave_msg *m);
int weft__swim_leave_consume(weft__rd *r, weft__swim_leave_msg *m);

/* ALIVE: a message holding exactly one claim. */
void weft__swim_alive_create(weft__wr *w, const weft__swim_claim *c);
int weft__swim_alive_consume(weft__rd *r, weft__swim_claim *c);

/* A PUSHPULL holding only its flags (a claim request). */
void weft__swim_pp_flags_create(weft__wr *w, uint8_t flags);
/* A PUSHPULL with entries, in two steps: begin writes the header and the
 * flags and returns a mark, entries follow (weft__swim_pp_entry_create),
 * end sets the length. */
size_t weft__swim_pp_begin(weft__wr *w, uint8_t flags);
void weft__swim_pp_end(weft__wr *w, size_t mark);

/* ---- claims, metadata, push-pull entries --------------------------------- */

/* Encoded size of c (signature included). */
size_t weft__swim_claim_bytes(const weft__swim_claim *c);
void weft__swim_claim_create(weft__wr *w, const weft__swim_claim *c);
/* Reads one claim; c->body/body_len span it.  Metadata limits and the tag
 * list are checked. */
int weft__swim_claim_consume(weft__rd *r, weft__swim_claim *c);
/* What a claim's signature covers: weft__swim_alive_ctx || the claim
 * without its signature.  Returns the length (out holds 16 +
 * WEFT__SWIM_CLAIM_MAX_BYTES). */
size_t weft__swim_claim_tbs(const weft__swim_claim *c, uint8_t *out);
/* What a leave signature covers: weft__swim_leave_ctx || id || inc. */
#define WEFT__SWIM_LEAVE_TBS_BYTES (16 + 32 + 4)
void weft__swim_leave_tbs(const weft_node_id *id, uint32_t inc,
                          uint8_t out[WEFT__SWIM_LEAVE_TBS_BYTES]);

/* The metadata blob (name, status, tags).  Returns its encoded length, or
 * WEFT_ERR_TOO_BIG / WEFT_ERR_INVAL as weft__swim_set_meta documents;
 * with w NULL only measures. */
ptrdiff_t weft__swim_meta_create(weft__wr *w, const char *name, const char *status,
                                 const weft__swim_tag *tags, size_t ntags);
/* Splits a stored metadata blob (already validated) into its fields. */
void weft__swim_meta_split(const uint8_t *meta, size_t len, const char **name,
                           size_t *name_len, const char **status, size_t *status_len,
                           const uint8_t **tags, size_t *tags_len);
int weft__swim_meta_is_empty(const uint8_t *meta, size_t len);

/* Push-pull entries: state + inc, then the claim or the leave.  Returns
 * the bytes an entry takes. */
size_t weft__swim_pp_entry_bytes(const weft__swim_pp_entry *e);
void weft__swim_pp_entry_create(weft__wr *w, const weft__swim_pp_entry *e);
int weft__swim_pp_entry_consume(weft__rd *r, weft__swim_pp_entry *e);

#endif
