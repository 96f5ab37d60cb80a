/* sim.c -- placeholder; the simulator lands with its own change. */
#include "weft/sim.h"
