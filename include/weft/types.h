/*
 * types.h -- what every part of libweft shares: the export marker, the
 * error table, node ids, transport addresses, the allocator and the
 * randomness interface.
 *
 * Errors are negative ints from one table (WEFT_ERROR_MAP below); see
 * weft_strerror().  Codes are grouped in three ranges:
 *   -1   .. -99   misuse by the caller (bad argument, wrong state, limit)
 *   -100 .. -199  something a peer sent or did (malformed, forged, gone)
 *   -500 and below fatal: the object can no longer be used safely
 *
 * Symbols: libweft is built with -fvisibility=hidden; only what a public
 * header marks WEFT_EXTERN is exported (tests/check_exports.sh fails the
 * build when anything else leaks).
 */
#ifndef WEFT_TYPES_H
#define WEFT_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEFT_EXTERN __attribute__((visibility("default")))
#else
#define WEFT_EXTERN
#endif

#define WEFT_VERSION_MAJOR 0
#define WEFT_VERSION_MINOR 2
#define WEFT_VERSION_PATCH 0
#define WEFT_VERSION_STRING "0.2.0"

/*
 * X(NAME, value, description).  WEFT_ERR_<NAME> = value.
 */
#define WEFT_ERROR_MAP(X)                                                      \
    /* misuse: the caller asked for something that cannot be done */         \
    X(INVAL, -1, "invalid argument")                                           \
    X(BUFSMALL, -2, "output buffer too small")                                 \
    X(TOO_BIG, -3, "message larger than the configured cap")                  \
    X(NO_PEER, -4, "no session with that peer")                                \
    X(STATE, -5, "operation not valid in the current state")                   \
    X(LIMIT, -6, "a configured limit was reached")                             \
    X(NOT_FOUND, -7, "not found")                                              \
    X(EXISTS, -8, "already exists")                                            \
    X(AGAIN, -9, "try again later (queue full)")                               \
    X(CONFIG, -10, "invalid configuration")                                    \
    X(NOMEM, -11, "out of memory")                                             \
    X(VERSION_MISMATCH, -12, "structure version not known to this library")   \
    X(TOO_BIG_DATAGRAM, -13, "unreliable message larger than one packet")     \
    /* peer / protocol: counted and dropped, never fatal */                   \
    X(PROTO, -100, "malformed packet or frame")                                \
    X(DECRYPT, -101, "packet failed authentication")                           \
    X(REPLAY, -102, "replayed or too old packet")                              \
    X(HANDSHAKE, -103, "handshake failed")                                     \
    X(UNKNOWN_SESSION, -104, "packet for an unknown session")                  \
    X(RATE_LIMITED, -105, "handshake rate limit reached")                      \
    X(UNREACHABLE, -106, "peer unreachable")                                   \
    X(VERSION, -107, "unsupported protocol version")                           \
    X(BAD_SIGNATURE, -108, "bad signature")                                    \
    X(WRONG_MESH, -109, "packet from another mesh (bad network key)")          \
    X(FLOW_CONTROL, -110, "peer exceeded flow-control credit")                 \
    X(PEER_CLOSED, -111, "peer closed the session")                            \
    X(EXPIRED, -112, "session expired")                                        \
    X(NO_CHANNEL, -113, "message for a channel nobody handles")                \
    X(PEER_RESTARTED, -114, "peer restarted: the old session's state is gone") \
    X(COOKIE, -115, "handshake answered with a cookie: retry with it")         \
    /* fatal */                                                                \
    X(CRYPTO, -500, "crypto backend failure")                                  \
    X(IO, -501, "I/O error")                                                   \
    X(CORRUPT, -502, "stored data is corrupt")                                 \
    X(KEY_PERMS, -503, "key file is readable by others (chmod 600 it)")        \
    X(INTERNAL, -504, "internal error (bug)")

enum weft_error {
#define WEFT__ERRENUM(name, val, desc) WEFT_ERR_##name = (val),
    WEFT_ERROR_MAP(WEFT__ERRENUM)
#undef WEFT__ERRENUM
    WEFT_ERR_FATAL = -500 /* codes <= this are fatal */
};

/* Human description of an error code ("unknown error" for others). */
WEFT_EXTERN const char *weft_strerror(int err);
/* The code's name, e.g. "WEFT_ERR_PROTO". */
WEFT_EXTERN const char *weft_err_name(int err);

/* ---------------------------------------------------------------------- */
/* Node ids and addresses                                                 */

#define WEFT_ID_BYTES 32

/* A node is its Ed25519 public key. */
typedef struct weft_node_id {
    uint8_t key[WEFT_ID_BYTES];
} weft_node_id;

/* Short human form: first 8 bytes as 16 lowercase hex chars + NUL. */
#define WEFT_ID_SHORT_LEN 17
WEFT_EXTERN void weft_id_short(const weft_node_id *id, char out[WEFT_ID_SHORT_LEN]);
/* Full form: 64 lowercase hex chars + NUL. */
#define WEFT_ID_HEX_LEN 65
WEFT_EXTERN void weft_id_hex(const weft_node_id *id, char out[WEFT_ID_HEX_LEN]);
/* Parse 64 hex chars.  Returns 0 or WEFT_ERR_INVAL. */
WEFT_EXTERN int weft_id_parse(weft_node_id *id, const char *hex);

/*
 * A transport address, independent of any socket header.  The core only
 * copies and compares these; drivers translate them to sockaddr.  The
 * simulator invents its own.
 */
typedef struct weft_addr {
    uint8_t family;  /* 0 = none, 4 = IPv4, 6 = IPv6 */
    uint8_t pad_;    /* zero */
    uint16_t port;   /* host byte order */
    uint32_t scope;  /* IPv6 scope id, 0 otherwise */
    uint8_t ip[16];  /* network byte order; IPv4 uses ip[0..3] */
} weft_addr;

WEFT_EXTERN int weft_addr_eq(const weft_addr *a, const weft_addr *b);
/* "1.2.3.4:5" or "[::1]:5".  Returns chars written (excl NUL) or error. */
#define WEFT_ADDR_STRLEN 64
WEFT_EXTERN int weft_addr_format(const weft_addr *a, char *out, size_t cap);
/* Parses "host:port" with a numeric IPv4 or bracketed IPv6 host and a
 * decimal port 0..65535 (anything else is WEFT_ERR_INVAL: no wrapping).
 * Returns 0 or WEFT_ERR_INVAL. */
WEFT_EXTERN int weft_addr_parse(weft_addr *a, const char *s);
/* 1 when the address is loopback (127/8 or ::1). */
WEFT_EXTERN int weft_addr_is_loopback(const weft_addr *a);

/* ---------------------------------------------------------------------- */
/* What the library draws from its user                                   */

/* All allocation goes through this.  NULL means libc. */
typedef struct weft_allocator {
    void *ctx;
    void *(*alloc)(void *ctx, size_t size);
    void *(*realloc)(void *ctx, void *p, size_t size);
    void (*free)(void *ctx, void *p);
} weft_allocator;

/* Randomness: must fill buf with len unpredictable bytes (the simulator
 * uses a seeded generator).  Key material is drawn from here. */
typedef struct weft_rand {
    void *ctx;
    void (*fill)(void *ctx, uint8_t *buf, size_t len);
} weft_rand;

/* Message priorities; lower value drains first. */
enum weft_priority {
    WEFT_PRIO_CRITICAL = 0,
    WEFT_PRIO_HIGH = 1,
    WEFT_PRIO_NORMAL = 2,
    WEFT_PRIO_LOW = 3
};
#define WEFT_PRIO_COUNT 4

#ifdef __cplusplus
}
#endif
#endif /* WEFT_TYPES_H */
