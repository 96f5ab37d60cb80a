/*
 * text.c -- formatting helpers shared by weftd's files (text.h).
 */
#include <stdio.h>

#include "text.h"

void text_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

void text_addr(const weft_addr *a, char out[WEFT_ADDR_STRLEN])
{
    if (a->family == 0 || weft_addr_format(a, out, WEFT_ADDR_STRLEN) < 0)
        snprintf(out, WEFT_ADDR_STRLEN, "-");
}

void text_clean(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)s[i];
        out[o++] = ch <= 0x20 || ch > 0x7e || ch == '=' || ch == ',' || ch == '"' || ch == '\\'
                       ? '_'
                       : (char)ch;
    }
    if (o == 0 && cap > 1)
        out[o++] = '-';
    out[o] = 0;
}
