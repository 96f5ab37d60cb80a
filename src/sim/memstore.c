/*
 * memstore.c -- weft_sim_memstore_new(): an in-memory implementation of
 * the store's storage interface (<weft/store.h>) for simulations and
 * tests.  It outlives the engine it serves, so a simulated crash and
 * restart finds every record a put returned for: what a durable store
 * promises.  A hash table of copied records (chained, doubling).
 */
#include <stdlib.h>
#include <string.h>

#include "weft/sim.h"

typedef struct mrec {
    struct mrec *next;
    uint64_t h;
    weft_store_record r;     /* pointers into data */
    size_t sk_len;
    uint8_t data[];          /* sk (ns_len || ns || key), then value */
} mrec;

typedef struct mem {
    weft_store iface;
    mrec **slots;
    size_t cap, n;
    uint64_t puts, removes;
} mem;

static uint64_t hash(const uint8_t *ns, size_t ns_len, const uint8_t *key, size_t key_len)
{
    uint64_t h = 1469598103934665603ULL ^ ns_len;
    for (size_t i = 0; i < ns_len; i++)
        h = (h ^ ns[i]) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (size_t i = 0; i < key_len; i++)
        h = (h ^ key[i]) * 1099511628211ULL;
    return h;
}

static mrec **find(mem *m, uint64_t h, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                   size_t key_len)
{
    mrec **p = &m->slots[h & (m->cap - 1)];
    for (; *p; p = &(*p)->next) {
        const weft_store_record *r = &(*p)->r;
        if ((*p)->h == h && r->ns_len == ns_len && r->key_len == key_len &&
            memcmp(r->ns, ns, ns_len) == 0 && memcmp(r->key, key, key_len) == 0)
            return p;
    }
    return p;
}

static int grow(mem *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    mrec **s = calloc(cap, sizeof *s);
    if (!s)
        return WEFT_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        mrec *x = m->slots[i];
        while (x) {
            mrec *nx = x->next;
            x->next = s[x->h & (cap - 1)];
            s[x->h & (cap - 1)] = x;
            x = nx;
        }
    }
    free(m->slots);
    m->slots = s;
    m->cap = cap;
    return 0;
}

static int m_put(void *ctx, const weft_store_record *r)
{
    mem *m = ctx;
    if (m->n + 1 > m->cap && grow(m) < 0)
        return WEFT_ERR_NOMEM;
    size_t sk_len = 1 + r->ns_len + r->key_len;
    mrec *x = malloc(sizeof *x + sk_len + r->value_len);
    if (!x)
        return WEFT_ERR_NOMEM;
    x->h = hash(r->ns, r->ns_len, r->key, r->key_len);
    x->sk_len = sk_len;
    x->data[0] = (uint8_t)r->ns_len;
    memcpy(x->data + 1, r->ns, r->ns_len);
    memcpy(x->data + 1 + r->ns_len, r->key, r->key_len);
    if (r->value_len)
        memcpy(x->data + sk_len, r->value, r->value_len);
    x->r = *r;
    x->r.ns = x->data + 1;
    x->r.key = x->data + 1 + r->ns_len;
    x->r.value = x->data + sk_len;
    mrec **p = find(m, x->h, r->ns, r->ns_len, r->key, r->key_len);
    if (*p) {
        x->next = (*p)->next;
        free(*p);
    } else {
        x->next = NULL;
        m->n++;
    }
    *p = x;
    m->puts++;
    return 0;
}

static int m_remove(void *ctx, const uint8_t *ns, size_t ns_len, const uint8_t *key,
                    size_t key_len)
{
    mem *m = ctx;
    if (!m->cap)
        return 0;
    mrec **p = find(m, hash(ns, ns_len, key, key_len), ns, ns_len, key, key_len);
    if (*p) {
        mrec *x = *p;
        *p = x->next;
        free(x);
        m->n--;
        m->removes++;
    }
    return 0;
}

static int m_load(void *ctx, weft_store_each_fn each, void *arg)
{
    mem *m = ctx;
    for (size_t i = 0; i < m->cap; i++)
        for (mrec *x = m->slots[i]; x; x = x->next) {
            int rc = each(arg, &x->r);
            if (rc)
                return rc;
        }
    return 0;
}

static int m_tx(void *ctx)
{
    (void)ctx;
    return 0;
}

weft_store *weft_sim_memstore_new(void)
{
    mem *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->iface.ctx = m;
    m->iface.load = m_load;
    m->iface.put = m_put;
    m->iface.remove = m_remove;
    m->iface.begin = m_tx;
    m->iface.commit = m_tx;
    return &m->iface;
}

size_t weft_sim_memstore_count(const weft_store *s)
{
    return s ? ((const mem *)s->ctx)->n : 0;
}

void weft_sim_memstore_del(weft_store *s)
{
    if (!s)
        return;
    mem *m = s->ctx;
    for (size_t i = 0; i < m->cap; i++) {
        mrec *x = m->slots[i];
        while (x) {
            mrec *nx = x->next;
            free(x);
            x = nx;
        }
    }
    free(m->slots);
    free(m);
}
