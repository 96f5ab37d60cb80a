/* sodium.c -- placeholder; the libsodium adapter lands with the Noise work. */
#include "weft/crypto.h"
