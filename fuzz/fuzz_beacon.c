/*
 * fuzz_beacon.c -- arbitrary bytes into the LAN beacon decoder
 * (src/membership/beacon.c), which reads datagrams from anyone on the link.
 * Demands no crash or sanitizer report, and that whatever decodes
 * re-encodes (with the signer's key) to the same bytes: the format has
 * one encoding per beacon.  Mesh id of network key 32 x 0x4e, signer seed
 * 32 x 0x01 (the seed corpus fuzz/corpus/fuzz_beacon/ uses these).
 */
#include <stdint.h>
#include <string.h>

#include "membership/beacon.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t sk[64], mesh[8];
    static weft_node_id pk;
    static int init;
    const weft_crypto *cr = weft_crypto_sodium();
    if (!init) {
        uint8_t seed[32], key[32];
        memset(seed, 0x01, sizeof seed);
        memset(key, 0x4e, sizeof key);
        cr->sign_keypair_seed(cr->ctx, pk.key, sk, seed);
        weft__beacon_mesh_id(cr, key, mesh);
        init = 1;
    }
    weft__beacon b;
    int rc = weft__beacon_decode(cr, data, size, mesh, &b);
    if (rc == 0 && memcmp(b.id.key, pk.key, 32) == 0) {
        uint8_t out[WEFT__BEACON_BYTES_MAX];
        ptrdiff_t n = weft__beacon_encode(cr, &b, sk, out, sizeof out);
        if (n != (ptrdiff_t)size || memcmp(out, data, size) != 0)
            __builtin_trap(); /* Ed25519 is deterministic: same bytes */
    }
    return 0;
}
