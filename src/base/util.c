/*
 * util.c -- error strings, node-id and address helpers, allocation through
 * the allocator hook.  Everything here is pure and needs no I/O.
 */
#include <string.h>

#include "base/util.h"

const char *weft_strerror(int err)
{
    switch (err) {
#define X(name, val, desc) case val: return desc;
        WEFT_ERROR_MAP(X)
#undef X
    case 0: return "success";
    default: return "unknown error";
    }
}

const char *weft_err_name(int err)
{
    switch (err) {
#define X(name, val, desc) case val: return "WEFT_ERR_" #name;
        WEFT_ERROR_MAP(X)
#undef X
    case 0: return "OK";
    default: return "WEFT_ERR_UNKNOWN";
    }
}

static const char hexd[] = "0123456789abcdef";

void weft_id_short(const weft_node_id *id, char out[WEFT_ID_SHORT_LEN])
{
    for (int i = 0; i < 8; i++) {
        out[2 * i] = hexd[id->key[i] >> 4];
        out[2 * i + 1] = hexd[id->key[i] & 15];
    }
    out[16] = 0;
}

void weft_id_hex(const weft_node_id *id, char out[WEFT_ID_HEX_LEN])
{
    for (int i = 0; i < WEFT_ID_BYTES; i++) {
        out[2 * i] = hexd[id->key[i] >> 4];
        out[2 * i + 1] = hexd[id->key[i] & 15];
    }
    out[64] = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int weft__unhex(uint8_t *out, size_t n, const char *hex)
{
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(hex[2 * i]), lo = hi < 0 ? -1 : hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return WEFT_ERR_INVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int weft_id_parse(weft_node_id *id, const char *hex)
{
    if (!id || !hex || strlen(hex) != 64)
        return WEFT_ERR_INVAL;
    return weft__unhex(id->key, 32, hex);
}

int weft_addr_eq(const weft_addr *a, const weft_addr *b)
{
    if (a->family != b->family || a->port != b->port)
        return 0;
    if (a->family == 4)
        return memcmp(a->ip, b->ip, 4) == 0;
    return memcmp(a->ip, b->ip, 16) == 0 && a->scope == b->scope;
}

int weft_addr_is_loopback(const weft_addr *a)
{
    static const uint8_t v6lo[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    if (a->family == 4)
        return a->ip[0] == 127;
    if (a->family == 6)
        return memcmp(a->ip, v6lo, 16) == 0;
    return 0;
}

/* Appends decimal v to out at *pos, bounded by cap. */
static void put_dec(char *out, size_t cap, size_t *pos, unsigned v)
{
    char tmp[12];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n--)
        if (*pos + 1 < cap)
            out[(*pos)++] = tmp[n];
}

static void put_ch(char *out, size_t cap, size_t *pos, char c)
{
    if (*pos + 1 < cap)
        out[(*pos)++] = c;
}

int weft_addr_format(const weft_addr *a, char *out, size_t cap)
{
    size_t pos = 0;
    if (!a || !out || cap < 2)
        return WEFT_ERR_INVAL;
    if (a->family == 4) {
        for (int i = 0; i < 4; i++) {
            put_dec(out, cap, &pos, a->ip[i]);
            put_ch(out, cap, &pos, i < 3 ? '.' : ':');
        }
    } else if (a->family == 6) {
        /* RFC 5952 text form: longest run of zero groups shortened. */
        int best = -1, bestlen = 0;
        for (int i = 0; i < 8;) {
            int j = i;
            while (j < 8 && a->ip[2 * j] == 0 && a->ip[2 * j + 1] == 0)
                j++;
            if (j - i > bestlen && j - i >= 2) {
                best = i;
                bestlen = j - i;
            }
            i = j > i ? j : i + 1;
        }
        put_ch(out, cap, &pos, '[');
        for (int i = 0; i < 8; i++) {
            if (i == best) {
                put_ch(out, cap, &pos, ':');
                if (i == 0)
                    put_ch(out, cap, &pos, ':');
                i += bestlen - 1;
                continue;
            }
            unsigned g = (unsigned)(a->ip[2 * i] << 8 | a->ip[2 * i + 1]);
            char tmp[5];
            int n = 0;
            do {
                tmp[n++] = hexd[g & 15];
                g >>= 4;
            } while (g);
            while (n--)
                put_ch(out, cap, &pos, tmp[n]);
            if (i < 7)
                put_ch(out, cap, &pos, ':');
        }
        put_ch(out, cap, &pos, ']');
        put_ch(out, cap, &pos, ':');
    } else {
        put_ch(out, cap, &pos, '-');
        out[pos] = 0;
        return (int)pos;
    }
    put_dec(out, cap, &pos, a->port);
    out[pos] = 0;
    return (int)pos;
}

static int parse_port(const char *s, uint16_t *port)
{
    unsigned v = 0;
    if (!*s)
        return WEFT_ERR_INVAL;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return WEFT_ERR_INVAL;
        v = v * 10 + (unsigned)(*s - '0');
        if (v > 65535)
            return WEFT_ERR_INVAL;
    }
    *port = (uint16_t)v;
    return 0;
}

static int parse_v4(const char *s, size_t n, uint8_t ip[4])
{
    int part = 0;
    unsigned v = 0;
    int digits = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '.';
        if (c >= '0' && c <= '9') {
            v = v * 10 + (unsigned)(c - '0');
            if (++digits > 3 || v > 255)
                return WEFT_ERR_INVAL;
        } else if (c == '.') {
            if (!digits || part > 3)
                return WEFT_ERR_INVAL;
            ip[part++] = (uint8_t)v;
            v = 0;
            digits = 0;
        } else {
            return WEFT_ERR_INVAL;
        }
    }
    return part == 4 ? 0 : WEFT_ERR_INVAL;
}

static int parse_v6(const char *s, size_t n, uint8_t ip[16])
{
    uint16_t g[8];
    int ng = 0, gap = -1;
    size_t i = 0;
    if (n >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;
    }
    while (i < n) {
        unsigned v = 0;
        int digits = 0;
        while (i < n && hexval(s[i]) >= 0) {
            v = v * 16 + (unsigned)hexval(s[i++]);
            if (++digits > 4)
                return WEFT_ERR_INVAL;
        }
        if (!digits || ng >= 8)
            return WEFT_ERR_INVAL;
        g[ng++] = (uint16_t)v;
        if (i == n)
            break;
        if (s[i] != ':')
            return WEFT_ERR_INVAL;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0)
                return WEFT_ERR_INVAL;
            gap = ng;
            i++;
        } else if (i == n) {
            return WEFT_ERR_INVAL;
        }
    }
    if (gap < 0 && ng != 8)
        return WEFT_ERR_INVAL;
    if (gap >= 0 && ng > 7)
        return WEFT_ERR_INVAL;
    uint16_t full[8] = {0};
    if (gap < 0) {
        memcpy(full, g, sizeof full);
    } else {
        for (int k = 0; k < gap; k++)
            full[k] = g[k];
        int tail = ng - gap;
        for (int k = 0; k < tail; k++)
            full[8 - tail + k] = g[gap + k];
    }
    for (int k = 0; k < 8; k++) {
        ip[2 * k] = (uint8_t)(full[k] >> 8);
        ip[2 * k + 1] = (uint8_t)full[k];
    }
    return 0;
}

int weft_addr_parse(weft_addr *a, const char *s)
{
    if (!a || !s)
        return WEFT_ERR_INVAL;
    memset(a, 0, sizeof *a);
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':')
            return WEFT_ERR_INVAL;
        if (parse_v6(s + 1, (size_t)(close - s - 1), a->ip) < 0)
            return WEFT_ERR_INVAL;
        a->family = 6;
        return parse_port(close + 2, &a->port);
    }
    const char *colon = strrchr(s, ':');
    if (!colon)
        return WEFT_ERR_INVAL;
    if (parse_v4(s, (size_t)(colon - s), a->ip) < 0)
        return WEFT_ERR_INVAL;
    a->family = 4;
    return parse_port(colon + 1, &a->port);
}

/* --- allocation ---------------------------------------------------------- */

#include <stdlib.h>

static void *libc_alloc(void *ctx, size_t n) { (void)ctx; return malloc(n); }
static void *libc_realloc(void *ctx, void *p, size_t n) { (void)ctx; return realloc(p, n); }
static void libc_free(void *ctx, void *p) { (void)ctx; free(p); }

const weft_allocator weft__libc_allocator = {NULL, libc_alloc, libc_realloc, libc_free};

void *weft__alloc(const weft_allocator *a, size_t n)
{
    if (!a) a = &weft__libc_allocator;
    return a->alloc(a->ctx, n ? n : 1);
}

void *weft__calloc(const weft_allocator *a, size_t n)
{
    void *p = weft__alloc(a, n);
    if (p)
        memset(p, 0, n);
    return p;
}

void *weft__realloc(const weft_allocator *a, void *p, size_t n)
{
    if (!a) a = &weft__libc_allocator;
    return a->realloc(a->ctx, p, n ? n : 1);
}

void weft__free(const weft_allocator *a, void *p)
{
    if (!p)
        return;
    if (!a) a = &weft__libc_allocator;
    a->free(a->ctx, p);
}
