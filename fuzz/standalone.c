/*
 * standalone.c -- runs a libFuzzer-style target without libFuzzer, so every
 * compiler can exercise the decoders in `make test`: each file of the seed
 * corpus is fed as is, then a bounded number of deterministic mutations of
 * each (bit flips, truncations, byte insertions, splices).  A crash or a
 * sanitizer report fails the test.  `make fuzz` uses real libFuzzer.
 *
 *   fuzz_x CORPUS_DIR [iterations per seed, default 2000]
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    /* splitmix64: deterministic, so a failure replays */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void mutate_run(const uint8_t *seed, size_t n, long iters)
{
    uint8_t *buf = malloc(n + 64);
    if (!buf)
        return;
    for (long it = 0; it < iters; it++) {
        size_t len = n;
        memcpy(buf, seed, n);
        int ops = 1 + (int)(rnd() % 4);
        for (int k = 0; k < ops; k++) {
            switch (rnd() % 5) {
            case 0: if (len) buf[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8)); break;
            case 1: if (len) len = rnd() % len; break;
            case 2: if (len) buf[rnd() % len] = (uint8_t)rnd(); break;
            case 3: if (len < n + 64) { size_t at = len ? rnd() % len : 0;
                        memmove(buf + at + 1, buf + at, len - at); buf[at] = (uint8_t)rnd(); len++; } break;
            case 4: if (len) { size_t at = rnd() % len; memset(buf + at, rnd() & 1 ? 0xff : 0, (len - at) > 8 ? 8 : len - at); } break;
            }
        }
        uint8_t *copy = malloc(len ? len : 1); /* exact size, so ASan sees overreads */
        if (!copy)
            break;
        memcpy(copy, buf, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
    }
    free(buf);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR [iterations]\n", argv[0]);
        return 2;
    }
    long iters = argc > 2 ? atol(argv[2]) : 2000;
    DIR *d = opendir(argv[1]);
    if (!d) {
        perror(argv[1]);
        return 2;
    }
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f)
            continue;
        uint8_t *data = malloc(1 << 20);
        size_t n = data ? fread(data, 1, 1 << 20, f) : 0;
        fclose(f);
        if (!data)
            continue;
        uint8_t *exact = malloc(n ? n : 1);
        memcpy(exact, data, n);
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        mutate_run(data, n, iters);
        free(data);
        files++;
    }
    closedir(d);
    /* Pure random inputs too, in case the corpus is thin. */
    uint8_t rb[512];
    for (long it = 0; it < iters; it++) {
        size_t len = rnd() % sizeof rb;
        for (size_t i = 0; i < len; i++) rb[i] = (uint8_t)rnd();
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, rb, len);
        LLVMFuzzerTestOneInput(copy, len);
        free(copy);
    }
    if (files == 0) {
        fprintf(stderr, "no seed files in %s\n", argv[1]);
        return 1;
    }
    printf("%d seeds, %ld mutations each: no crash\n", files, iters);
    return 0;
}
