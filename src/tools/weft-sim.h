/*
 * weft-sim.h -- what the weft-sim program's scenarios share: the parsed
 * command line, and the report each scenario fills (its key=value figures
 * and the first invariant that failed).  See docs/SIMULATOR.md for how to
 * add a scenario.
 */
#ifndef WEFT_TOOLS_WEFT_SIM_H
#define WEFT_TOOLS_WEFT_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "weft/sim.h"

/* Which options were given on the command line (simopt.given). */
enum {
    OPT_NODES = 1 << 0,
    OPT_LOSS = 1 << 1,
    OPT_DUP = 1 << 2,
    OPT_REORDER = 1 << 3,
    OPT_LATENCY = 1 << 4,
    OPT_JITTER = 1 << 5,
    OPT_SECONDS = 1 << 6,
    OPT_MESSAGES = 1 << 7,
    OPT_PARTITION = 1 << 8
};

typedef struct simopt {
    const char *scenario;
    int nodes;             /* default: the scenario's */
    double loss, dup, reorder;
    uint64_t latency_us, jitter_us;
    uint64_t seed;
    double seconds;        /* simulated seconds */
    uint64_t messages;
    int fast_crypto;
    double tamper;         /* transport: corrupt/truncate/replay probability */
    int wrong_key;         /* transport: node 1 has another network key */
    double partition_s;    /* membership: 50/50 partition this long */
    int verbose;
    unsigned given;        /* OPT_* bits */
} simopt;

#define REPORT_CAP 2048

typedef struct simreport {
    char kv[REPORT_CAP];   /* scenario figures, " key=value" each */
    size_t kv_len;
    const char *failed;    /* first failed invariant (static string) */
    char failed_detail[256];
    int skipped;           /* scenario unavailable in this build */
    /* core figures, filled by report_sim() */
    int nodes;
    uint64_t sim_us, events, trace;
} simreport;

/* Appends " key=value" (printf-style value) to the report's figures. */
void report_kv(simreport *r, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a failed invariant (the first one wins); detail is printf-style. */
void report_fail(simreport *r, const char *invariant, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Copies node count, virtual time, event count and trace hash of s. */
void report_sim(simreport *r, const weft_sim *s);
/* The link built from the options (latency, jitter, loss, dup, reorder). */
void opt_link(const simopt *o, weft_sim_link *l);

/* Scenario entry points: return 0, or non-zero after report_fail(). */
int scenario_selftest(const simopt *o, simreport *r);
int scenario_transport(const simopt *o, simreport *r);
int scenario_membership(const simopt *o, simreport *r); /* weft-sim-membership.c */
int scenario_churn(const simopt *o, simreport *r);
int scenario_store(const simopt *o, simreport *r);      /* weft-sim-store.c */

#endif
