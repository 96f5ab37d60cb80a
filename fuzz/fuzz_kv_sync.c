/*
 * fuzz_kv_sync.c -- arbitrary bytes into one anti-entropy step
 * (src/kv/recon.c) against a small index of 300 keys: ranges, item lists,
 * wants and entries from a peer.  Entries that decode are applied
 * (last-writer-wins, signatures not checked: this exercises the parser
 * and the tree).  Demands no crash or sanitizer report and a bounded
 * answer.  The PUSH layout is a header plus ENTRY records: the same
 * record reader.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv/recon.h"

static weft__kv_tree T;

static void apply(void *ctx, const weft__kv_view *v)
{
    (void)ctx;
    uint8_t sk[WEFT__KV_SK_MAX];
    size_t n = weft__kv_sk_make(sk, v->ns, v->ns_len, v->key, v->key_len);
    weft__kv_ent *old = weft__kv_tree_get(&T, sk, n);
    if (old && weft__kv_version_cmp(v->hlc, v->writer, old->hlc, old->writer.key) <= 0)
        return;
    if (weft__kv_tree_count(&T) > 2000)
        return;
    free(weft__kv_tree_put(&T, weft__kv_ent_from_view(NULL, weft_crypto_sodium(), v)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t *out;
    const weft_crypto *c = weft_crypto_sodium();
    weft__kv_ent *x;
    while ((x = T.root) != NULL)
        free(weft__kv_tree_del(&T, x->data, x->sk_len));
    for (int i = 0; i < 300; i++) {
        char k[16];
        int kl = snprintf(k, sizeof k, "k%03d", i * 3);
        weft__kv_view v;
        memset(&v, 0, sizeof v);
        static const uint8_t w[32], sig[64];
        v.hlc = 1000 + (uint64_t)i;
        v.writer = w;
        v.ns = (const uint8_t *)"t";
        v.ns_len = 1;
        v.key = (const uint8_t *)k;
        v.key_len = (size_t)kl;
        v.sig = sig;
        free(weft__kv_tree_put(&T, weft__kv_ent_from_view(NULL, c, &v)));
    }
    if (!out)
        out = malloc(WEFT__KV_RECON_OUT_CAP);
    weft__kv_recon_env env = {&T, apply, NULL};
    ptrdiff_t n = weft__kv_recon_process(&env, data, size, out, WEFT__KV_RECON_OUT_CAP);
    if (n > (ptrdiff_t)WEFT__KV_RECON_OUT_CAP)
        __builtin_trap();
    return 0;
}
