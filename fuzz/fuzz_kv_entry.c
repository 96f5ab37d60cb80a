/*
 * fuzz_kv_entry.c -- arbitrary bytes into the store's ENTRY decoder
 * (src/kv/entry.c), which reads versions pushed and synced by peers.
 * Demands no crash or sanitizer report, and that whatever decodes
 * re-encodes to the same bytes (one encoding per version).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kv/entry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const weft_crypto *c = weft_crypto_sodium();
    weft__rd r;
    weft__rd_init(&r, data, size);
    weft__kv_view v;
    if (weft__kv_entry_read(&r, &v) < 0)
        return 0;
    (void)weft__kv_entry_verify(c, &v);
    weft__kv_ent *x = weft__kv_ent_from_view(NULL, c, &v);
    if (!x)
        return 0;
    size_t n = weft__kv_entry_size(x);
    uint8_t *out = malloc(n);
    weft__wr w;
    weft__wr_init(&w, out, n);
    weft__kv_entry_write(&w, x);
    if (!weft__wr_ok(&w) || w.pos != r.pos || memcmp(out, data, r.pos) != 0)
        __builtin_trap();
    free(out);
    free(x);
    return 0;
}
