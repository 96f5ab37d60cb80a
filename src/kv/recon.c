/*
 * recon.c -- one step of range-based set reconciliation (recon.h): read a
 * SYNC message, apply its entries, answer its wants and compare each of
 * its ranges with the local index, writing the answer.
 *
 * The answer is bounded: entries take at most WEFT__KV_RECON_BUDGET bytes
 * (a range whose entries do not fit is answered by a fingerprint of what
 * is left, so the peer asks again in the next step), and range records
 * stop when the output is full (the round then ends with differences
 * left, repaired by the next round).
 */
#include <string.h>

#include "kv/recon.h"

typedef struct bound {
    const uint8_t *p;
    size_t len;
    int open;
} bound;

typedef struct out_t {
    weft__wr w;
    uint8_t prev_hi[WEFT__KV_SK_MAX]; /* copy: entries may be replaced */
    size_t prev_len;
    int prev_state;                   /* 0 none, 1 open, 2 key */
    int records;
    int full;
} out_t;

static const bound OPEN = {NULL, 0, 1};

/* --- reading ---------------------------------------------------------- */

static int read_bound(weft__rd *r, bound *b, const bound *prev_hi, int lower)
{
    uint64_t v = weft__rd_varint(r);
    if (v == 0) {
        *b = OPEN;
    } else if (v == 1) {
        if (!lower || !prev_hi)
            weft__rd_fail(r);
        else
            *b = *prev_hi;
    } else {
        if (v - 2 > WEFT__KV_SK_MAX)
            weft__rd_fail(r);
        b->len = (size_t)(v - 2);
        b->p = weft__rd_bytes(r, b->len);
        b->open = 0;
    }
    return weft__rd_ok(r) ? 0 : -1;
}

static const uint8_t *read_sk(weft__rd *r, size_t *len)
{
    uint64_t n = weft__rd_varint(r);
    if (n > WEFT__KV_SK_MAX || n < 3)
        weft__rd_fail(r);
    *len = (size_t)n;
    return weft__rd_bytes(r, *len);
}

/* --- the index --------------------------------------------------------- */

static const uint8_t *bp(const bound *b) { return b->open ? NULL : b->p; }

static weft__kv_fp range_fp(const weft__kv_tree *t, const bound *lo, const bound *hi)
{
    return weft__kv_tree_range(t, bp(lo), lo->len, bp(hi), hi->len);
}

static int below_hi(const weft__kv_ent *x, const bound *hi)
{
    return hi->open || weft__kv_sk_cmp(weft__kv_ent_sk(x), x->sk_len, hi->p, hi->len) < 0;
}

static weft__kv_ent *first_in(const weft__kv_tree *t, const bound *lo, const bound *hi)
{
    weft__kv_ent *x = lo->open ? weft__kv_tree_at(t, 0)
                               : weft__kv_tree_seek(t, lo->p, lo->len, 0);
    return x && below_hi(x, hi) ? x : NULL;
}

static weft__kv_ent *next_in(const weft__kv_tree *t, const weft__kv_ent *x, const bound *hi)
{
    weft__kv_ent *y = weft__kv_tree_seek(t, weft__kv_ent_sk(x), x->sk_len, 1);
    return y && below_hi(y, hi) ? y : NULL;
}

/* --- writing ----------------------------------------------------------- */

static size_t bound_size(const bound *b) { return b->open ? 1 : weft__varint_len(b->len + 2) + b->len; }

static void write_bound(out_t *o, const bound *b, int lower)
{
    if (b->open) {
        weft__wr_varint(&o->w, 0);
    } else if (lower && o->prev_state == 2 && o->prev_len == b->len &&
               memcmp(o->prev_hi, b->p, b->len) == 0) {
        weft__wr_varint(&o->w, 1);
    } else {
        weft__wr_varint(&o->w, b->len + 2);
        weft__wr_bytes(&o->w, b->p, b->len);
    }
}

static void set_prev(out_t *o, const bound *hi)
{
    o->prev_state = hi->open ? 1 : 2;
    if (!hi->open) {
        memcpy(o->prev_hi, hi->p, hi->len);
        o->prev_len = hi->len;
    }
}

/* Room for a record of n bytes, keeping `keep` bytes free after it. */
static int room(out_t *o, size_t n, size_t keep)
{
    if (o->full || weft__wr_room(&o->w) < n + keep) {
        o->full = 1;
        return 0;
    }
    return 1;
}

static void emit_fp(out_t *o, const bound *lo, const bound *hi, const weft__kv_fp *fp)
{
    if (!room(o, 1 + bound_size(lo) + bound_size(hi) + 16 + 8, 0))
        return;
    weft__wr_u8(&o->w, WEFT__KV_REC_FP);
    write_bound(o, lo, 1);
    write_bound(o, hi, 0);
    weft__wr_u64(&o->w, fp->lo);
    weft__wr_u64(&o->w, fp->hi);
    weft__wr_varint(&o->w, fp->count);
    set_prev(o, hi);
    o->records++;
}

static void emit_items(out_t *o, const weft__kv_tree *t, const bound *lo, const bound *hi,
                       uint64_t n)
{
    size_t need = 1 + bound_size(lo) + bound_size(hi) + 8;
    for (weft__kv_ent *x = first_in(t, lo, hi); x; x = next_in(t, x, hi))
        need += 2 + x->sk_len + 8 + 32;
    if (!room(o, need, 0))
        return;
    weft__wr_u8(&o->w, WEFT__KV_REC_ITEMS);
    write_bound(o, lo, 1);
    write_bound(o, hi, 0);
    weft__wr_varint(&o->w, n);
    for (weft__kv_ent *x = first_in(t, lo, hi); x; x = next_in(t, x, hi)) {
        weft__wr_varint(&o->w, x->sk_len);
        weft__wr_bytes(&o->w, weft__kv_ent_sk(x), x->sk_len);
        weft__wr_u64(&o->w, x->hlc);
        weft__wr_bytes(&o->w, x->writer.key, 32);
    }
    set_prev(o, hi);
    o->records++;
}

/* An entry, if it fits in the entry budget. */
static int emit_entry(out_t *o, const weft__kv_ent *x)
{
    size_t n = 1 + weft__kv_entry_size(x);
    if (o->full || weft__wr_room(&o->w) < n + WEFT__KV_RECON_RESERVE)
        return 0;
    weft__wr_u8(&o->w, WEFT__KV_REC_ENTRY);
    weft__kv_entry_write(&o->w, x);
    o->records++;
    return 1;
}

static void emit_want(out_t *o, const uint8_t *sk, size_t len)
{
    if (!room(o, 1 + weft__varint_len(len) + len, 0))
        return;
    weft__wr_u8(&o->w, WEFT__KV_REC_WANT);
    weft__wr_varint(&o->w, len);
    weft__wr_bytes(&o->w, sk, len);
    o->records++;
}

/* Splits [lo, hi), holding n > 0 local items, into parts of equal rank
 * and sends the fingerprint of each. */
static void split(out_t *o, const weft__kv_tree *t, const bound *lo, const bound *hi,
                  uint64_t n)
{
    uint64_t r0 = lo->open ? 0 : weft__kv_tree_rank(t, lo->p, lo->len);
    bound a = *lo;
    uint64_t last = 0;
    for (uint64_t i = 1; i <= WEFT__KV_RECON_FANOUT && !o->full; i++) {
        bound b = *hi;
        if (i < WEFT__KV_RECON_FANOUT) {
            uint64_t at = i * n / WEFT__KV_RECON_FANOUT;
            if (at == last)
                continue;
            const weft__kv_ent *x = weft__kv_tree_at(t, r0 + at);
            if (!x)
                break;
            last = at;
            b = (bound){weft__kv_ent_sk(x), x->sk_len, 0};
        }
        /* every part as a fingerprint, even a small one: most parts are
         * equal on the other side, and a fingerprint costs ~40 bytes where
         * a list costs ~50 per item; a differing small part comes back as
         * the other side's item list one step later */
        weft__kv_fp fp = range_fp(t, &a, &b);
        emit_fp(o, &a, &b, &fp);
        a = b;
    }
}

/* Bytes the entries of [lo, hi) take, stopping past limit. */
static size_t entries_bytes(const weft__kv_tree *t, const bound *lo, const bound *hi,
                            size_t limit)
{
    size_t n = 0;
    for (weft__kv_ent *x = first_in(t, lo, hi); x && n <= limit; x = next_in(t, x, hi))
        n += 1 + weft__kv_entry_size(x);
    return n;
}

/* --- the records -------------------------------------------------------- */

/* Their fingerprint fp of [lo, hi). */
static void on_fp(out_t *o, const weft__kv_tree *t, const bound *lo, const bound *hi,
                  const weft__kv_fp *theirs)
{
    weft__kv_fp mine = range_fp(t, lo, hi);
    if (mine.lo == theirs->lo && mine.hi == theirs->hi && mine.count == theirs->count)
        return;
    if (theirs->count == 0 && mine.count <= WEFT__KV_RECON_BATCH) {
        size_t room_ = weft__wr_room(&o->w);
        size_t avail = room_ > WEFT__KV_RECON_RESERVE ? room_ - WEFT__KV_RECON_RESERVE : 0;
        if (entries_bytes(t, lo, hi, avail) <= avail) {
            for (weft__kv_ent *x = first_in(t, lo, hi); x; x = next_in(t, x, hi))
                (void)emit_entry(o, x);
            return;
        }
        if (mine.count == 1) { /* no room this step: say what we have */
            emit_fp(o, lo, hi, &mine);
            return;
        }
    }
    if (mine.count <= WEFT__KV_RECON_ITEMS)
        emit_items(o, t, lo, hi, mine.count);
    else
        split(o, t, lo, hi, mine.count);
}

/* Their item list of [lo, hi): n items, read from r in order. */
static void on_items(out_t *o, weft__rd *r, const weft__kv_tree *t, const bound *lo,
                     const bound *hi, uint64_t n)
{
    weft__kv_fp mine = range_fp(t, lo, hi);
    if (mine.count > WEFT__KV_RECON_BATCH) {
        for (uint64_t i = 0; i < n && weft__rd_ok(r); i++) { /* consume them */
            size_t l;
            (void)read_sk(r, &l);
            weft__rd_skip(r, 8 + 32);
        }
        split(o, t, lo, hi, mine.count);
        return;
    }
    weft__kv_ent *x = first_in(t, lo, hi);
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    int stopped = 0;
    for (uint64_t i = 0; i < n && weft__rd_ok(r); i++) {
        size_t l;
        const uint8_t *sk = read_sk(r, &l);
        uint64_t hlc = weft__rd_u64(r);
        const uint8_t *w = weft__rd_bytes(r, 32);
        if (!weft__rd_ok(r))
            return;
        /* strictly ascending and inside the range, or the message is bad */
        if ((prev && weft__kv_sk_cmp(prev, prev_len, sk, l) >= 0) ||
            (!lo->open && weft__kv_sk_cmp(sk, l, lo->p, lo->len) < 0) ||
            (!hi->open && weft__kv_sk_cmp(sk, l, hi->p, hi->len) >= 0)) {
            weft__rd_fail(r);
            return;
        }
        prev = sk;
        prev_len = l;
        if (stopped)
            continue;
        while (x && weft__kv_sk_cmp(weft__kv_ent_sk(x), x->sk_len, sk, l) < 0) {
            if (!emit_entry(o, x))
                goto out_of_room;
            x = next_in(t, x, hi);
        }
        if (x && weft__kv_sk_cmp(weft__kv_ent_sk(x), x->sk_len, sk, l) == 0) {
            int c = weft__kv_version_cmp(x->hlc, x->writer.key, hlc, w);
            if (c > 0 && !emit_entry(o, x))
                goto out_of_room;
            if (c < 0)
                emit_want(o, sk, l);
            x = next_in(t, x, hi);
        } else {
            emit_want(o, sk, l);
        }
        continue;
    out_of_room:
        stopped = 1;
    }
    while (!stopped && x) {
        if (!emit_entry(o, x)) {
            stopped = 1;
            break;
        }
        x = next_in(t, x, hi);
    }
    if (stopped && x) {
        /* what is left of the range, from x on: the peer asks again */
        bound from = {weft__kv_ent_sk(x), x->sk_len, 0};
        weft__kv_fp rest = range_fp(t, &from, hi);
        emit_fp(o, &from, hi, &rest);
    }
}

static void on_want(out_t *o, const weft__kv_tree *t, const uint8_t *sk, size_t len)
{
    const weft__kv_ent *x = weft__kv_tree_get(t, sk, len);
    if (!x || emit_entry(o, x))
        return;
    /* no room: a one-key range the peer will ask about again */
    uint8_t succ[WEFT__KV_SK_MAX + 1];
    memcpy(succ, sk, len);
    succ[len] = 0;
    bound lo = {sk, len, 0}, hi = {succ, len + 1, 0};
    weft__kv_fp fp = range_fp(t, &lo, &hi);
    emit_fp(o, &lo, &hi, &fp);
}

/* --- messages ----------------------------------------------------------- */

static void write_header(weft__wr *w, int type, uint32_t round)
{
    weft__wr_u8(w, (uint8_t)type);
    weft__wr_u32(w, round);
}

int weft__kv_msg_header(const uint8_t *msg, size_t len, int *type, uint32_t *round)
{
    weft__rd r;
    weft__rd_init(&r, msg, len);
    *type = weft__rd_u8(&r);
    *round = weft__rd_u32(&r);
    return weft__rd_ok(&r) ? 0 : WEFT_ERR_PROTO;
}

ptrdiff_t weft__kv_recon_start(const weft__kv_tree *t, uint32_t round, uint8_t *out,
                               size_t cap)
{
    out_t o;
    memset(&o, 0, sizeof o);
    weft__wr_init(&o.w, out, cap);
    write_header(&o.w, WEFT__KV_MSG_SYNC, round);
    weft__kv_fp all = weft__kv_tree_range(t, NULL, 0, NULL, 0);
    emit_fp(&o, &OPEN, &OPEN, &all);
    return weft__wr_ok(&o.w) && !o.full ? (ptrdiff_t)o.w.pos : WEFT_ERR_BUFSMALL;
}

ptrdiff_t weft__kv_recon_process(const weft__kv_recon_env *env, const uint8_t *msg,
                                 size_t len, uint8_t *out, size_t cap)
{
    out_t o; /* ~4 KiB: the copy of the last bound written */
    int type;
    uint32_t round;
    if (weft__kv_msg_header(msg, len, &type, &round) < 0 || type != WEFT__KV_MSG_SYNC)
        return WEFT_ERR_PROTO;
    o.prev_len = 0;
    o.prev_state = 0;
    o.records = 0;
    o.full = 0;
    weft__wr_init(&o.w, out, cap);
    write_header(&o.w, WEFT__KV_MSG_SYNC, round);

    weft__rd r;
    weft__rd_init(&r, msg + WEFT__KV_HDR_BYTES, len - WEFT__KV_HDR_BYTES);
    bound prev_hi = OPEN;
    int have_prev = 0;
    while (weft__rd_ok(&r) && weft__rd_left(&r)) {
        uint8_t rec = weft__rd_u8(&r);
        switch (rec) {
        case WEFT__KV_REC_FP:
        case WEFT__KV_REC_ITEMS: {
            bound lo, hi;
            if (read_bound(&r, &lo, have_prev ? &prev_hi : NULL, 1) < 0 ||
                read_bound(&r, &hi, NULL, 0) < 0)
                break;
            if (!lo.open && !hi.open && weft__kv_sk_cmp(lo.p, lo.len, hi.p, hi.len) >= 0) {
                weft__rd_fail(&r);
                break;
            }
            prev_hi = hi;
            have_prev = 1;
            if (rec == WEFT__KV_REC_FP) {
                weft__kv_fp fp;
                fp.lo = weft__rd_u64(&r);
                fp.hi = weft__rd_u64(&r);
                fp.count = weft__rd_varint(&r);
                if (weft__rd_ok(&r))
                    on_fp(&o, env->tree, &lo, &hi, &fp);
            } else {
                uint64_t n = weft__rd_varint(&r);
                if (n > weft__rd_left(&r) / (3 + 8 + 32 + 1))
                    weft__rd_fail(&r);
                if (weft__rd_ok(&r))
                    on_items(&o, &r, env->tree, &lo, &hi, n);
            }
            break;
        }
        case WEFT__KV_REC_WANT: {
            size_t l;
            const uint8_t *sk = read_sk(&r, &l);
            if (weft__rd_ok(&r))
                on_want(&o, env->tree, sk, l);
            break;
        }
        case WEFT__KV_REC_ENTRY: {
            weft__kv_view v;
            if (weft__kv_entry_read(&r, &v) == 0)
                env->apply(env->ctx, &v);
            break;
        }
        default:
            weft__rd_fail(&r);
        }
    }
    if (!weft__rd_ok(&r))
        return WEFT_ERR_PROTO;
    if (!o.records) {
        weft__wr_init(&o.w, out, cap);
        write_header(&o.w, WEFT__KV_MSG_DONE, round);
    }
    return weft__wr_ok(&o.w) ? (ptrdiff_t)o.w.pos : WEFT_ERR_BUFSMALL;
}
