/*
 * test.h -- the minimal test harness of weft's unit and simulation tests.
 * Each test file defines TEST(name) functions and lists them in main via
 * RUN(name).  A failed CHECK prints file:line and the expression and marks
 * the current test failed; REQUIRE also returns from it.  TEST_MAIN_END
 * prints "N passed, N failed" for this binary and sets the exit status.
 */
#ifndef WEFT_TEST_H
#define WEFT_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_ = 0, t_passed_ = 0, t_cur_failed_ = 0;

#define TEST(name) static void name(void)
#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            t_cur_failed_ = 1;                                                 \
        }                                                                      \
    } while (0)
#define REQUIRE(cond)                                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: REQUIRE failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                    \
            t_cur_failed_ = 1;                                                 \
            return;                                                            \
        }                                                                      \
    } while (0)
#define CHECK_EQ_INT(a, b)                                                     \
    do {                                                                       \
        long long a_ = (long long)(a), b_ = (long long)(b);                    \
        if (a_ != b_) {                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld != %lld)\n",  \
                    __FILE__, __LINE__, #a, #b, a_, b_);                       \
            t_cur_failed_ = 1;                                                 \
        }                                                                      \
    } while (0)
#define RUN(name)                                                              \
    do {                                                                       \
        t_cur_failed_ = 0;                                                     \
        name();                                                                \
        if (t_cur_failed_) {                                                   \
            t_failed_++;                                                       \
            fprintf(stderr, "FAIL %s\n", #name);                               \
        } else {                                                               \
            t_passed_++;                                                       \
            fprintf(stderr, "ok   %s\n", #name);                               \
        }                                                                      \
    } while (0)
#define TEST_MAIN_END()                                                        \
    do {                                                                       \
        fprintf(stderr, "%d passed, %d failed\n", t_passed_, t_failed_);       \
        return t_failed_ ? 1 : 0;                                              \
    } while (0)

/* Parses 2*n hex chars into out; returns n or -1. */
static inline int test_unhex(uint8_t *out, size_t cap, const char *hex)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        return -1;
    for (size_t i = 0; i < n / 2; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return -1;
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2);
}

#endif
