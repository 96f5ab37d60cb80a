/*
 * fuzz_registry_entry.c -- arbitrary bytes into the registry entry decoder
 * (src/registry/entry.c), which reads entries replicated from peers and
 * loaded from storage.  Demands no crash or sanitizer report, and:
 *   - whatever decodes re-encodes to the same bytes (one encoding per
 *     entry);
 *   - an accepted entry with no embedding or an 8-d one can be added to a
 *     namespace of dimension 8, read back as the same bytes
 *     (weft_registry_get_encoded) and removed again.
 * The seed corpus fuzz/corpus/fuzz_registry_entry/ holds valid entries
 * (bench-like 8-d and 512-d ones, every field at its maximum).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "weft/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static weft_registry *r;
    static weft_registry_kv meta[WEFT_REGISTRY_META_PAIRS_MAX];
    static float emb[WEFT_REGISTRY_DIM_MAX];
    static uint8_t out[WEFT_REGISTRY_ENTRY_BYTES_MAX];
    if (!r) {
        weft_registry_config c;
        weft_registry_config_default(&c);
        c.dim = 8;
        c.meta_bytes_max = WEFT_REGISTRY_META_BYTES_MAX;
        c.entry_bytes_max = WEFT_REGISTRY_ENTRY_BYTES_MAX;
        if (weft_registry_new(&r, &c, NULL))
            abort();
    }
    weft_registry_entry e;
    int rc = weft_registry_entry_decode(&e, data, size, meta,
                                        WEFT_REGISTRY_META_PAIRS_MAX, emb,
                                        WEFT_REGISTRY_DIM_MAX);
    if (rc != 0) {
        if (rc != WEFT_ERR_PROTO && rc != WEFT_ERR_TOO_BIG)
            __builtin_trap();
        return 0;
    }
    ptrdiff_t n = weft_registry_entry_encode(&e, out, sizeof out);
    if (n != (ptrdiff_t)size || memcmp(out, data, size) != 0)
        __builtin_trap(); /* not canonical */
    if (e.dim != 0 && e.dim != 8)
        return 0;
    if (weft_registry_add(r, &e, WEFT_REGISTRY_REPLACE) != 0)
        __builtin_trap(); /* decoded entries are valid for the namespace */
    n = weft_registry_get_encoded(r, e.hash, e.hash_len, out, sizeof out);
    if (n != (ptrdiff_t)size || memcmp(out, data, size) != 0)
        __builtin_trap();
    if (weft_registry_remove(r, e.hash, e.hash_len) != 0 || weft_registry_count(r) != 0)
        __builtin_trap();
    return 0;
}
