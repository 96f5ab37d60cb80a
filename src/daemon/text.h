/*
 * text.h -- small formatting helpers shared by weftd's files: hex, an
 * address or "-", and peer-supplied text made safe for `key=value` lines.
 */
#ifndef WEFTD_TEXT_H
#define WEFTD_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "weft/weft.h"

/* n bytes as 2n lowercase hex digits and a NUL. */
void text_hex(const uint8_t *b, size_t n, char *out);
/* The address, or "-" when there is none. */
void text_addr(const weft_addr *a, char out[WEFT_ADDR_STRLEN]);
/* Copies len bytes of peer-supplied text for a `key=value` line: bytes
 * outside printable ASCII, spaces, '=', ',', quotes and backslashes become
 * '_' so a member cannot forge fields in our log or control output; an
 * empty string becomes "-". */
void text_clean(const char *s, size_t len, char *out, size_t cap);

#endif
