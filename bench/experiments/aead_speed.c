/*
 * aead_speed.c -- ChaCha20-Poly1305 IETF speed of libsodium on this CPU,
 * in CPU time (CLOCK_PROCESS_CPUTIME_ID), so other load on the machine
 * does not lower the figure.  It bounds what weft's transport can reach:
 * every byte is sealed once by the sender and opened once by the receiver.
 *
 * build: cc -O2 bench/experiments/aead_speed.c -o aead_speed -lsodium
 * usage: aead_speed [bytes]   (default 65000, the loopback packet size)
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double cpu_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 65000;
    if (sodium_init() < 0 || n == 0 || n > (64u << 20))
        return 1;
    unsigned char key[32] = {1}, nonce[12] = {0};
    unsigned char *m = malloc(n + 16), *c = malloc(n + 16);
    unsigned long long cl = 0, ml = 0;
    if (!m || !c)
        return 1;
    memset(m, 7, n);
    long it = (long)((2000ull << 20) / n) + 1; /* ~2 GB each way */
    double t = cpu_s();
    for (long i = 0; i < it; i++)
        crypto_aead_chacha20poly1305_ietf_encrypt(c, &cl, m, n, NULL, 0, NULL, nonce, key);
    double enc = (double)n * (double)it / (cpu_s() - t) / 1e6;
    int bad = 0;
    t = cpu_s();
    for (long i = 0; i < it; i++)
        bad |= crypto_aead_chacha20poly1305_ietf_decrypt(m, &ml, NULL, c, cl, NULL, 0, nonce, key);
    double dec = (double)n * (double)it / (cpu_s() - t) / 1e6;
    printf("%zu B: seal %.0f MB/s, open %.0f MB/s per CPU-second%s\n", n, enc, dec,
           bad ? " (open FAILED)" : "");
    free(m);
    free(c);
    return bad != 0;
}
