/*
 * tree.c -- the store's ordered index (tree.h): a treap over sort keys,
 * each node carrying its subtree's count and 128-bit fingerprint sum, so
 * range fingerprints, ranks and rank selection are O(log n) (Meyer,
 * "Range-Based Set Reconciliation" §4: a balanced tree of monoid values).
 */
#include <string.h>

#include "kv/tree.h"

int weft__kv_sk_cmp(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, n) : 0;
    if (c)
        return c;
    return alen < blen ? -1 : alen > blen;
}

uint32_t weft__kv_tree_prio(const weft__kv_tree *t, const uint8_t *sk, size_t len)
{
    /* FNV-1a over the seed and the key, then a 64-bit finaliser (splitmix). */
    uint64_t h = 1469598103934665603ULL ^ t->seed;
    for (size_t i = 0; i < len; i++)
        h = (h ^ sk[i]) * 1099511628211ULL;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return (uint32_t)h;
}

static void fp_add(weft__kv_fp *a, uint64_t lo, uint64_t hi, uint64_t count)
{
    uint64_t s = a->lo + lo;
    a->hi += hi + (s < lo);
    a->lo = s;
    a->count += count;
}

static void fp_sub(weft__kv_fp *a, const weft__kv_fp *b)
{
    uint64_t borrow = a->lo < b->lo;
    a->lo -= b->lo;
    a->hi -= b->hi + borrow;
    a->count -= b->count;
}

/* Recomputes x's subtree summary from its children. */
static void fix(weft__kv_ent *x)
{
    weft__kv_fp s = {x->h_lo, x->h_hi, 1};
    if (x->l)
        fp_add(&s, x->l->sub.lo, x->l->sub.hi, x->l->sub.count);
    if (x->r)
        fp_add(&s, x->r->sub.lo, x->r->sub.hi, x->r->sub.count);
    x->sub = s;
}

static weft__kv_ent *rot_right(weft__kv_ent *x)
{
    weft__kv_ent *y = x->l;
    x->l = y->r;
    y->r = x;
    fix(x);
    fix(y);
    return y;
}

static weft__kv_ent *rot_left(weft__kv_ent *x)
{
    weft__kv_ent *y = x->r;
    x->r = y->l;
    y->l = x;
    fix(x);
    fix(y);
    return y;
}

static int cmp_ent(const weft__kv_ent *x, const uint8_t *sk, size_t len)
{
    return weft__kv_sk_cmp(sk, len, weft__kv_ent_sk(x), x->sk_len);
}

weft__kv_ent *weft__kv_tree_get(const weft__kv_tree *t, const uint8_t *sk, size_t len)
{
    weft__kv_ent *x = t->root;
    while (x) {
        int c = cmp_ent(x, sk, len);
        if (!c)
            return x;
        x = c < 0 ? x->l : x->r;
    }
    return NULL;
}

/* Inserts n below *slot; *old receives a replaced entry. */
static weft__kv_ent *insert(weft__kv_ent *x, weft__kv_ent *n, weft__kv_ent **old)
{
    if (!x) {
        n->l = n->r = NULL;
        fix(n);
        return n;
    }
    int c = cmp_ent(x, weft__kv_ent_sk(n), n->sk_len);
    if (!c) {
        /* same key: n takes x's place and shape */
        n->l = x->l;
        n->r = x->r;
        n->prio = x->prio;
        fix(n);
        *old = x;
        return n;
    }
    if (c < 0) {
        x->l = insert(x->l, n, old);
        if (x->l->prio > x->prio)
            return rot_right(x);
    } else {
        x->r = insert(x->r, n, old);
        if (x->r->prio > x->prio)
            return rot_left(x);
    }
    fix(x);
    return x;
}

weft__kv_ent *weft__kv_tree_put(weft__kv_tree *t, weft__kv_ent *x)
{
    weft__kv_ent *old = NULL;
    x->prio = weft__kv_tree_prio(t, weft__kv_ent_sk(x), x->sk_len);
    t->root = insert(t->root, x, &old);
    return old;
}

/* Joins two treaps where every key of a is below every key of b. */
static weft__kv_ent *join(weft__kv_ent *a, weft__kv_ent *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (a->prio > b->prio) {
        a->r = join(a->r, b);
        fix(a);
        return a;
    }
    b->l = join(a, b->l);
    fix(b);
    return b;
}

static weft__kv_ent *remove_(weft__kv_ent *x, const uint8_t *sk, size_t len,
                             weft__kv_ent **out)
{
    if (!x)
        return NULL;
    int c = cmp_ent(x, sk, len);
    if (!c) {
        *out = x;
        return join(x->l, x->r);
    }
    if (c < 0)
        x->l = remove_(x->l, sk, len, out);
    else
        x->r = remove_(x->r, sk, len, out);
    fix(x);
    return x;
}

weft__kv_ent *weft__kv_tree_del(weft__kv_tree *t, const uint8_t *sk, size_t len)
{
    weft__kv_ent *out = NULL;
    t->root = remove_(t->root, sk, len, &out);
    if (out)
        out->l = out->r = NULL;
    return out;
}

/* Sum and count of items with sk < key (key NULL: everything). */
static weft__kv_fp below(const weft__kv_tree *t, const uint8_t *key, size_t len)
{
    weft__kv_fp s = {0, 0, 0};
    const weft__kv_ent *x = t->root;
    if (!key) {
        if (x)
            s = x->sub;
        return s;
    }
    while (x) {
        if (cmp_ent(x, key, len) > 0) {
            /* x < key: x and its left subtree are below */
            if (x->l)
                fp_add(&s, x->l->sub.lo, x->l->sub.hi, x->l->sub.count);
            fp_add(&s, x->h_lo, x->h_hi, 1);
            x = x->r;
        } else {
            x = x->l;
        }
    }
    return s;
}

weft__kv_fp weft__kv_tree_range(const weft__kv_tree *t, const uint8_t *lo, size_t lolen,
                                const uint8_t *hi, size_t hilen)
{
    weft__kv_fp a = below(t, hi, hilen);
    if (lo) {
        weft__kv_fp b = below(t, lo, lolen);
        fp_sub(&a, &b);
    }
    return a;
}

uint64_t weft__kv_tree_rank(const weft__kv_tree *t, const uint8_t *key, size_t len)
{
    return below(t, key, len).count;
}

weft__kv_ent *weft__kv_tree_at(const weft__kv_tree *t, uint64_t r)
{
    weft__kv_ent *x = t->root;
    while (x) {
        uint64_t lc = x->l ? x->l->sub.count : 0;
        if (r < lc) {
            x = x->l;
        } else if (r == lc) {
            return x;
        } else {
            r -= lc + 1;
            x = x->r;
        }
    }
    return NULL;
}

weft__kv_ent *weft__kv_tree_seek(const weft__kv_tree *t, const uint8_t *key, size_t len,
                                 int strict)
{
    weft__kv_ent *x = t->root, *best = NULL;
    while (x) {
        int c = cmp_ent(x, key, len); /* key vs x */
        if (c < 0 || (c == 0 && !strict)) {
            best = x;
            x = x->l;
        } else {
            x = x->r;
        }
    }
    return best;
}

static int walk(weft__kv_ent *x, int (*fn)(void *, weft__kv_ent *), void *arg)
{
    while (x) {
        int rc = walk(x->l, fn, arg);
        if (rc)
            return rc;
        /* fn may not free x; take the right child first anyway */
        weft__kv_ent *r = x->r;
        rc = fn(arg, x);
        if (rc)
            return rc;
        x = r;
    }
    return 0;
}

int weft__kv_tree_walk(const weft__kv_tree *t, int (*fn)(void *, weft__kv_ent *), void *arg)
{
    return walk(t->root, fn, arg);
}
