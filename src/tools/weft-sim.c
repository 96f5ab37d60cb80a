/*
 * weft-sim.c -- the weft-sim program: runs one named simulation scenario
 * with a seed and fault rates from the command line and prints one line of
 * key=value results.  A failed invariant prints the seed and the invariant
 * first (stderr) and exits 1, so any failure is replayed exactly with
 *   weft-sim SCENARIO --seed S [same options]
 * Scenarios live in a table below; each is a function in its own file
 * (src/tools/weft-sim-<name>.c).  Exit codes: 0 ok, 1 invariant failed,
 * 2 usage error, 77 scenario unavailable in this build.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/weft-sim.h"

typedef struct scenario {
    const char *name;
    const char *description;
    int (*run)(const simopt *o, simreport *r);
} scenario;

static const scenario scenarios[] = {
    {"selftest",
     "toy ping/echo nodes (no engine) under the requested faults plus a "
     "partition, one-way blocks and crash/restart; checks the network model "
     "(no delivery to crashed nodes or across cuts, latency floor, echo "
     "integrity) and liveness after healing; default 100 nodes",
     scenario_selftest},
    /* transport: 2 engines with weft_crypto_sodium() exchange --messages
     * reliable messages (mixed sizes up to 1 MiB, priorities, ordered and
     * unordered) over --loss/--dup/--reorder; exactly-once and in-order
     * within priority.  Compiled only with WEFT_HAVE_ENGINE (exits 77
     * otherwise); see src/tools/weft-sim-transport.c. */
    {"transport",
     "two engines exchange --messages reliable messages (1 B..1 MiB, all "
     "priorities, ordered and unordered) over the faulty network; checks "
     "exactly-once delivery, order within priority, integrity, completion",
     scenario_transport},
    {"membership", "SWIM membership: join, converge, crash 1 %; convergence and "
     "detection times, false positives (must be 0), bytes/s per node", scenario_membership},
    {"churn", "SWIM membership under crash/restart churn; no false positives after "
     "stabilisation, views converge after churn stops", scenario_churn},
    {"store", "replicated store on SQLite files: random writes and deletes from every "
     "node under loss, partitions, crashes and restarts; after healing every node holds "
     "the same state, equal to a last-writer-wins model of every acknowledged write; "
     "default 20 nodes, --messages 600 writes over --seconds 30", scenario_store},
};
#define NSCENARIOS (sizeof scenarios / sizeof scenarios[0])

void report_kv(simreport *r, const char *key, const char *fmt, ...)
{
    va_list ap;
    if (r->kv_len + 2 >= REPORT_CAP)
        return;
    int n = snprintf(r->kv + r->kv_len, REPORT_CAP - r->kv_len, " %s=", key);
    if (n < 0 || (size_t)n >= REPORT_CAP - r->kv_len)
        return;
    r->kv_len += (size_t)n;
    va_start(ap, fmt);
    n = vsnprintf(r->kv + r->kv_len, REPORT_CAP - r->kv_len, fmt, ap);
    va_end(ap);
    if (n > 0) {
        size_t room = REPORT_CAP - r->kv_len - 1;
        r->kv_len += (size_t)n < room ? (size_t)n : room;
    }
}

void report_fail(simreport *r, const char *invariant, const char *fmt, ...)
{
    va_list ap;
    if (r->failed)
        return;
    r->failed = invariant;
    va_start(ap, fmt);
    vsnprintf(r->failed_detail, sizeof r->failed_detail, fmt, ap);
    va_end(ap);
}

void report_sim(simreport *r, const weft_sim *s)
{
    weft_sim_stats st;
    weft_sim_get_stats(s, &st);
    r->nodes = weft_sim_node_count(s);
    r->sim_us = weft_sim_now(s);
    r->events = st.events;
    r->trace = weft_sim_trace_hash(s);
}

void opt_link(const simopt *o, weft_sim_link *l)
{
    weft_sim_link_default(l);
    l->latency_us = o->latency_us;
    l->jitter_us = o->jitter_us;
    l->loss = o->loss;
    l->dup = o->dup;
    l->reorder = o->reorder;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: weft-sim SCENARIO [options]\n"
            "       weft-sim --help | --list\n"
            "\n"
            "Runs a deterministic simulation of weft nodes on a virtual clock\n"
            "and network.  The same seed and options replay the run bit for\n"
            "bit (compare trace=).  Prints one line of key=value results.\n"
            "\n"
            "options:\n"
            "  --nodes N         number of nodes (scenario default)\n"
            "  --loss P          datagram loss probability 0..1 (default 0)\n"
            "  --dup P           duplication probability 0..1 (default 0)\n"
            "  --reorder P       probability of an extra delay of up to\n"
            "                    4 x latency, reordering packets (default 0)\n"
            "  --latency-us U    one-way latency in microseconds (default 1000)\n"
            "  --jitter-us U     uniform extra latency 0..U (default 0)\n"
            "  --seed S          seed of every random choice (default 1)\n"
            "  --seconds T       simulated seconds to run (scenario default)\n"
            "  --messages M      messages to send (scenario default)\n"
            "  --fast-crypto     INSECURE fast crypto, for huge runs only\n"
            "  --tamper P        transport: with probability P a received\n"
            "                    packet is bit-flipped, truncated or replayed\n"
            "  --partition T     membership: after the steady phase, split\n"
            "                    the nodes 50/50 for T simulated seconds,\n"
            "                    heal, and report heal_s (full view back)\n"
            "  --wrong-key       transport: node 1 lacks the network key;\n"
            "                    passes when no session forms, nothing is\n"
            "                    delivered and the drops are counted\n"
            "  --verbose         progress and wall-clock speed on stderr\n"
            "  --list            list scenarios\n"
            "  --help            this text\n"
            "\n"
            "scenarios:\n");
    for (size_t i = 0; i < NSCENARIOS; i++)
        fprintf(f, "  %-10s %s\n", scenarios[i].name, scenarios[i].description);
    fprintf(f,
            "\n"
            "exit status: 0 ok, 1 an invariant failed (seed and invariant are\n"
            "printed first, on stderr), 2 usage error, 77 scenario not\n"
            "available in this build.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int parse_prob(const char *s, double *out)
{
    char *end;
    if (!s || !*s)
        return -1;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !(v >= 0.0 && v <= 1.0))
        return -1;
    *out = v;
    return 0;
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    simopt o;
    memset(&o, 0, sizeof o);
    o.latency_us = 1000;
    o.seed = 1;
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        uint64_t u;
        int bad = 0, takes = 1;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--list")) {
            for (size_t k = 0; k < NSCENARIOS; k++)
                printf("%s\n", scenarios[k].name);
            return 0;
        } else if (!strcmp(a, "--nodes")) {
            bad = parse_u64(v, &u) || u < 1 || u > 1000000;
            o.nodes = (int)u;
            o.given |= OPT_NODES;
        } else if (!strcmp(a, "--loss")) {
            bad = parse_prob(v, &o.loss);
            o.given |= OPT_LOSS;
        } else if (!strcmp(a, "--dup")) {
            bad = parse_prob(v, &o.dup);
            o.given |= OPT_DUP;
        } else if (!strcmp(a, "--reorder")) {
            bad = parse_prob(v, &o.reorder);
            o.given |= OPT_REORDER;
        } else if (!strcmp(a, "--latency-us")) {
            bad = parse_u64(v, &o.latency_us) || o.latency_us > 60000000;
            o.given |= OPT_LATENCY;
        } else if (!strcmp(a, "--jitter-us")) {
            bad = parse_u64(v, &o.jitter_us) || o.jitter_us > 60000000;
            o.given |= OPT_JITTER;
        } else if (!strcmp(a, "--seed")) {
            bad = parse_u64(v, &o.seed);
        } else if (!strcmp(a, "--seconds")) {
            char *end = NULL;
            o.seconds = v ? strtod(v, &end) : 0;
            bad = !v || !end || *end || !(o.seconds > 0 && o.seconds <= 1e6);
            o.given |= OPT_SECONDS;
        } else if (!strcmp(a, "--messages")) {
            bad = parse_u64(v, &o.messages) || o.messages > 100000000;
            o.given |= OPT_MESSAGES;
        } else if (!strcmp(a, "--fast-crypto")) {
            o.fast_crypto = 1;
            takes = 0;
        } else if (!strcmp(a, "--tamper")) {
            bad = parse_prob(v, &o.tamper);
        } else if (!strcmp(a, "--partition")) {
            char *end = NULL;
            o.partition_s = v ? strtod(v, &end) : 0;
            bad = !v || !end || *end || !(o.partition_s > 0 && o.partition_s <= 1e5);
            o.given |= OPT_PARTITION;
        } else if (!strcmp(a, "--wrong-key")) {
            o.wrong_key = 1;
            takes = 0;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = 1;
            takes = 0;
        } else if (a[0] == '-') {
            fprintf(stderr, "weft-sim: unknown option '%s' (see --help)\n", a);
            return 2;
        } else if (!o.scenario) {
            o.scenario = a;
            takes = 0;
        } else {
            fprintf(stderr, "weft-sim: unexpected argument '%s' (see --help)\n", a);
            return 2;
        }
        if (takes) {
            if (bad) {
                fprintf(stderr, "weft-sim: bad or missing value for %s%s%s\n", a,
                        v ? ": " : "", v ? v : "");
                return 2;
            }
            i++;
        }
    }
    if (!o.scenario) {
        fprintf(stderr, "weft-sim: no scenario given (see --help)\n");
        return 2;
    }
    const scenario *sc = NULL;
    for (size_t k = 0; k < NSCENARIOS; k++)
        if (!strcmp(scenarios[k].name, o.scenario))
            sc = &scenarios[k];
    if (!sc) {
        fprintf(stderr, "weft-sim: unknown scenario '%s'; known:", o.scenario);
        for (size_t k = 0; k < NSCENARIOS; k++)
            fprintf(stderr, " %s", scenarios[k].name);
        fprintf(stderr, "\n");
        return 2;
    }

    simreport r;
    memset(&r, 0, sizeof r);
    double t0 = wall_s();
    int rc = sc->run(&o, &r);
    double dt = wall_s() - t0;
    if (r.skipped) {
        fprintf(stderr, "weft-sim: scenario '%s' is not available in this build\n",
                sc->name);
        printf("scenario=%s seed=%" PRIu64 " result=skip\n", sc->name, o.seed);
        return 77;
    }
    if (rc && !r.failed)
        report_fail(&r, "scenario error", "run returned %d", rc);
    if (r.failed)
        fprintf(stderr, "FAIL scenario=%s seed=%" PRIu64 " invariant=\"%s\" %s\n",
                sc->name, o.seed, r.failed, r.failed_detail);
    if (o.verbose)
        fprintf(stderr, "wall_s=%.3f events_per_s=%.0f\n", dt,
                dt > 0 ? (double)r.events / dt : 0.0);
    printf("scenario=%s seed=%" PRIu64 " nodes=%d sim_seconds=%.6f events=%" PRIu64
           " trace=0x%016" PRIx64 "%s result=%s\n",
           sc->name, o.seed, r.nodes, (double)r.sim_us / 1e6, r.events, r.trace,
           r.kv, r.failed ? "fail" : "ok");
    return r.failed ? 1 : 0;
}
