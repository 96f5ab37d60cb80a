/*
 * bench_store.c -- benchmarks of the replicated store (src/kv/), printing
 * JSON lines {"bench":"store",...}.  bench/run.sh runs the modes and sets
 * up the network namespace the loss and partition modes need.
 *
 *   bench_store writes [REPS]
 *       local writes per second (weft_kv_put: sign, persist, index) at
 *       each durability level, against raw SQLite single-row transactions
 *       of the same rows at the same level (the baseline); median of REPS.
 *   bench_store converge N LOSS_PCT [REPS]
 *       N weft_uv_nodes in this process on 127.0.0.1 with membership and
 *       the store on SQLite (NORMAL); once all see N alive, 200 writes from
 *       random nodes over 1 s; the time from the last write's
 *       acknowledgement until every node has the same digest.  One such
 *       round warms up first (it opens the sessions, which nodes open on
 *       demand), then one is measured.  LOSS_PCT
 *       only labels the figure: run.sh runs this inside a namespace whose
 *       nftables drop that share of UDP.
 *   bench_store partition N SECS
 *       as converge, then nftables (in the namespace) cuts nodes 0..N/2-1
 *       from the others for SECS seconds while both sides write; the time
 *       from the cut's removal until every node has the same digest.
 *   bench_store aebytes KEYS
 *       anti-entropy bytes (both directions) and messages for 10
 *       differences between two indexes of KEYS keys.
 * Every loop is bounded in count and time.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <uv.h>

#include "weft/crypto.h"
#include "weft/kv.h"
#include "weft/membership.h"
#include "weft/sim.h"
#include "weft/store.h"
#include "weft/uv.h"
#include "kv/recon.h"

#define NODES_MAX 32

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void emit(const char *metric, double v, const char *unit, double base)
{
    printf("{\"bench\":\"store\",\"metric\":\"%s\",\"value\":%.3f,\"unit\":\"%s\"", metric, v,
           unit);
    if (base > 0)
        printf(",\"baseline\":%.3f,\"ratio\":%.3f", base, v / base);
    printf("}\n");
    fflush(stdout);
}

static int cmpd(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n, double *lo, double *hi)
{
    qsort(v, (size_t)n, sizeof *v, cmpd);
    *lo = v[0];
    *hi = v[n - 1];
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static char tmpdir[64];

static void rm_db(const char *path)
{
    char p[256];
    static const char *const sfx[] = {"", "-wal", "-shm"};
    for (int k = 0; k < 3; k++) {
        snprintf(p, sizeof p, "%s%s", path, sfx[k]);
        unlink(p);
    }
}

/* ------------------------------------------------------------------------ */
/* writes                                                                    */

static void rand_os(void *ctx, uint8_t *b, size_t n)
{
    weft_rand_os(ctx, b, n);
}

static double weft_writes(int sync, int n)
{
    char path[128], err[256];
    snprintf(path, sizeof path, "%s/w.db", tmpdir);
    rm_db(path);
    weft_config cfg;
    weft_config_default(&cfg);
    const weft_crypto *cr = weft_crypto_sodium();
    uint8_t seed[32] = {1}, pk[32];
    cr->sign_keypair_seed(cr->ctx, pk, cfg.identity_secret, seed);
    weft_env env = {NULL, cr, {NULL, rand_os}, NULL, NULL};
    weft_engine *e;
    if (weft_engine_new(&e, &cfg, &env, 0) < 0)
        return -1;
    uint8_t fp[32];
    weft_kv_mesh_fingerprint(e, fp);
    weft_store *st;
    if (weft_store_sqlite_open(&st, path, fp, sync, err, sizeof err) < 0) {
        fprintf(stderr, "bench: %s\n", err);
        return -1;
    }
    weft_kv_config kc;
    weft_kv_config_default(&kc);
    kc.store = st;
    kc.wall_ms = wall_ms;
    if (weft_kv_attach(e, &kc, 0) < 0)
        return -1;
    char key[32], val[64];
    memset(val, 'v', sizeof val);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(key, sizeof key, "k%08d", i);
        if (weft_kv_put(e, "bench", 5, key, strlen(key), val, sizeof val, 0, 0) < 0)
            return -1;
    }
    double dt = now_s() - t0;
    weft_engine_del(e);
    weft_store_sqlite_close(st);
    rm_db(path);
    return n / dt;
}

static double raw_writes(int sync, int n)
{
    static const char *const SYNC[] = {"PRAGMA synchronous=OFF", "PRAGMA synchronous=NORMAL",
                                       "PRAGMA synchronous=FULL"};
    char path[128];
    snprintf(path, sizeof path, "%s/raw.db", tmpdir);
    rm_db(path);
    sqlite3 *db;
    sqlite3_stmt *ins;
    if (sqlite3_open(path, &db) != SQLITE_OK)
        return -1;
    sqlite3_exec(db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
    sqlite3_exec(db, SYNC[sync], NULL, NULL, NULL);
    sqlite3_exec(db, "CREATE TABLE entries(sk BLOB PRIMARY KEY, hlc INTEGER, writer BLOB, "
                     "expires INTEGER, flags INTEGER, sig BLOB, value BLOB) WITHOUT ROWID",
                 NULL, NULL, NULL);
    sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?)", -1, &ins,
                       NULL);
    uint8_t sk[32], w[32] = {0}, sig[64] = {0}, val[64];
    memset(val, 'v', sizeof val);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        int l = snprintf((char *)sk, sizeof sk, "\005benchk%08d", i);
        sqlite3_bind_blob(ins, 1, sk, l, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 2, i);
        sqlite3_bind_blob(ins, 3, w, 32, SQLITE_STATIC);
        sqlite3_bind_int64(ins, 4, 0);
        sqlite3_bind_int(ins, 5, 0);
        sqlite3_bind_blob(ins, 6, sig, 64, SQLITE_STATIC);
        sqlite3_bind_blob(ins, 7, val, sizeof val, SQLITE_STATIC);
        sqlite3_step(ins);
        sqlite3_reset(ins);
    }
    double dt = now_s() - t0;
    sqlite3_finalize(ins);
    sqlite3_close(db);
    rm_db(path);
    return n / dt;
}

static int mode_writes(int reps)
{
    static const char *const NAME[] = {"off", "normal", "full"};
    for (int s = 0; s < 3; s++) {
        int n = s == 2 ? 1000 : 20000;
        double w[16], r[16], lo, hi, rlo, rhi;
        for (int k = 0; k < reps; k++) {
            w[k] = weft_writes(s, n);
            r[k] = raw_writes(s, n);
            if (w[k] < 0 || r[k] < 0)
                return 1;
        }
        double wm = median(w, reps, &lo, &hi), rm = median(r, reps, &rlo, &rhi);
        char m[64];
        snprintf(m, sizeof m, "writes_per_s_%s", NAME[s]);
        emit(m, wm, "writes/s", rm);
        fprintf(stderr, "# %s: weft %.0f/s (%.0f..%.0f), raw sqlite %.0f/s (%.0f..%.0f), %d reps\n",
                NAME[s], wm, lo, hi, rm, rlo, rhi, reps);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* a cluster in one loop                                                     */

typedef struct cl {
    uv_loop_t loop;
    int n;
    weft_uv_node *node[NODES_MAX];
    weft_engine *e[NODES_MAX];
    weft_store *st[NODES_MAX];
    uint16_t port[NODES_MAX];
    uv_timer_t tick;
    double deadline, t_mark, t_done;
    int phase;          /* 0 wait alive, 1 writing, 2 wait converge, 3 done */
    int warm;           /* warm-up rounds left (sessions open on demand) */
    int writes_left, writes_total;
    double next_write;
    uint64_t seq;
} cl;

static cl C;

static uint32_t rnd32(void)
{
    uint8_t b[4];
    weft_rand_os(NULL, b, 4);
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static int all_alive(void)
{
    for (int i = 0; i < C.n; i++) {
        weft_membership_stats ms;
        if (weft_membership_stats_get(C.e[i], &ms) < 0 || ms.alive != (uint32_t)C.n)
            return 0;
    }
    return 1;
}

static int all_same(void)
{
    uint8_t d0[16], d[16];
    uint64_t n0, n;
    weft_kv_digest(C.e[0], d0, &n0);
    for (int i = 1; i < C.n; i++) {
        weft_kv_digest(C.e[i], d, &n);
        if (n != n0 || memcmp(d, d0, 16))
            return 0;
    }
    return 1;
}

static void write_random(void)
{
    int i = (int)(rnd32() % (uint32_t)C.n);
    char key[32], val[32];
    snprintf(key, sizeof key, "k%04u", rnd32() % 500);
    snprintf(val, sizeof val, "v%llu", (unsigned long long)C.seq++);
    (void)weft_kv_put(C.e[i], "bench", 5, key, strlen(key), val, strlen(val), 0,
                      weft_uv_now_us());
}

static void on_tick(uv_timer_t *t)
{
    double now = now_s();
    if (now > C.deadline) {
        C.phase = -1;
        uv_stop(&C.loop);
        return;
    }
    switch (C.phase) {
    case 0:
        if (all_alive()) {
            C.phase = 1;
            C.next_write = now;
        }
        break;
    case 1:
        while (C.writes_left > 0 && now >= C.next_write) {
            write_random();
            C.writes_left--;
            C.next_write += 1.0 / 200;
        }
        if (!C.writes_left) {
            C.t_mark = now;
            C.phase = 2;
        }
        break;
    case 2:
        if (all_same()) {
            C.t_done = now;
            if (C.warm > 0) { /* a warm-up round: measure the next one */
                C.warm--;
                C.writes_left = C.writes_total;
                C.phase = 1;
                C.next_write = now;
                break;
            }
            C.phase = 3;
            uv_stop(&C.loop);
        }
        break;
    default:
        break;
    }
    (void)t;
}

static int cl_start(int n)
{
    memset(&C, 0, sizeof C);
    C.n = n;
    uv_loop_init(&C.loop);
    const weft_crypto *cr = weft_crypto_sodium();
    for (int i = 0; i < n; i++) {
        weft_uv_config uc;
        weft_uv_config_default(&uc);
        weft_addr_parse(&uc.listen[0], "127.0.0.1:0");
        uc.listen_count = 1;
        uint8_t seed[32] = {0}, pk[32];
        seed[0] = (uint8_t)i;
        seed[1] = 0xbe;
        weft_rand_os(NULL, seed + 2, 8);
        cr->sign_keypair_seed(cr->ctx, pk, uc.engine.identity_secret, seed);
        memset(uc.engine.network_key, 0x77, 32);
        if (weft_uv_node_new(&C.node[i], &C.loop, &uc, NULL) < 0)
            return -1;
        C.e[i] = weft_uv_node_engine(C.node[i]);
        weft_addr self;
        weft_uv_node_local_addr(C.node[i], 0, &self);
        C.port[i] = self.port;
        weft_membership_config mc;
        weft_membership_config_default(&mc);
        uint64_t now = weft_uv_now_us();
        if (weft_membership_attach(C.e[i], &mc, now) < 0 ||
            weft_membership_set_addr(C.e[i], &self, now) < 0)
            return -1;
        char path[128], err[256];
        snprintf(path, sizeof path, "%s/n%d.db", tmpdir, i);
        rm_db(path);
        uint8_t fp[32];
        weft_kv_mesh_fingerprint(C.e[i], fp);
        if (weft_store_sqlite_open(&C.st[i], path, fp, WEFT_STORE_SYNC_NORMAL, err,
                                   sizeof err) < 0) {
            fprintf(stderr, "bench: %s\n", err);
            return -1;
        }
        weft_kv_config kc;
        weft_kv_config_default(&kc);
        kc.store = C.st[i];
        kc.wall_ms = wall_ms;
        if (weft_kv_attach(C.e[i], &kc, now) < 0)
            return -1;
        if (i) {
            weft_addr seed_addr;
            weft_uv_node_local_addr(C.node[0], 0, &seed_addr);
            weft_membership_join(C.e[i], &seed_addr, now);
        }
    }
    uv_timer_init(&C.loop, &C.tick);
    uv_timer_start(&C.tick, on_tick, 1, 1);
    return 0;
}

static void on_closed(weft_uv_node *n, void *ud)
{
    (void)n;
    (void)ud;
}

static void cl_stop(void)
{
    uv_timer_stop(&C.tick);
    uv_close((uv_handle_t *)&C.tick, NULL);
    for (int i = 0; i < C.n; i++)
        weft_uv_node_close(C.node[i], on_closed);
    for (int k = 0; k < 1000 && uv_run(&C.loop, UV_RUN_NOWAIT); k++)
        ;
    for (int i = 0; i < C.n; i++) {
        weft_store_sqlite_close(C.st[i]);
        char path[128];
        snprintf(path, sizeof path, "%s/n%d.db", tmpdir, i);
        rm_db(path);
    }
    uv_loop_close(&C.loop);
}

/* One convergence run: seconds from the last write to identical digests. */
static double converge_once(int n, int writes)
{
    if (cl_start(n) < 0)
        return -1;
    C.writes_left = C.writes_total = writes;
    C.warm = 1;
    C.deadline = now_s() + 120;
    uv_run(&C.loop, UV_RUN_DEFAULT);
    double r = C.phase == 3 ? C.t_done - C.t_mark : -1;
    uint64_t push = 0, sync = 0, pushes = 0;
    for (int i = 0; i < C.n; i++) {
        weft_kv_stats st;
        weft_kv_stats_get(C.e[i], &st);
        push += st.applied_push;
        sync += st.applied_sync;
        pushes += st.pushes_sent;
        weft_stats es;
        weft_engine_stats(C.e[i], &es);
        if (getenv("BENCH_DEBUG"))
            fprintf(stderr, "#   node %d: sessions %llu evicted %llu hs_failed %llu send_failed %llu ratelimit %llu\n", i,
                    (unsigned long long)es.sessions, (unsigned long long)es.half_open_evicted,
                    (unsigned long long)es.handshakes_failed, (unsigned long long)es.send_failed,
                    (unsigned long long)es.drop_ratelimit);
    }
    fprintf(stderr, "#   versions applied by push %llu, by anti-entropy %llu (pushes sent %llu)\n",
            (unsigned long long)push, (unsigned long long)sync, (unsigned long long)pushes);
    cl_stop();
    return r;
}

static int mode_converge(int n, int loss, int reps)
{
    double v[16], lo, hi;
    for (int k = 0; k < reps; k++) {
        v[k] = converge_once(n, 200);
        if (v[k] < 0) {
            fprintf(stderr, "bench: no convergence (N=%d loss=%d%%)\n", n, loss);
            return 1;
        }
    }
    double m = median(v, reps, &lo, &hi);
    char name[64];
    snprintf(name, sizeof name, "converge_ms_N%d_loss%d", n, loss);
    /* baseline: the seed's claim (lower end), not measured here */
    double seed = n <= 2 ? 2000 : n <= 5 ? 5000 : 10000;
    if (loss)
        seed = 10000;
    emit(name, m * 1000, "ms", seed);
    fprintf(stderr, "# N=%d loss=%d%%: median %.0f ms (%.0f..%.0f), %d runs\n", n, loss,
            m * 1000, lo * 1000, hi * 1000, reps);
    return 0;
}

static void nft_cut(int on, int n)
{
    char cmd[4096];
    if (!on) {
        if (system("nft delete table inet weftkvcut 2>/dev/null") != 0)
            fprintf(stderr, "bench: nft delete failed\n");
        return;
    }
    size_t o = 0;
    o += (size_t)snprintf(cmd + o, sizeof cmd - o,
                          "nft add table inet weftkvcut && nft add chain inet weftkvcut in "
                          "'{ type filter hook input priority -10; }' && nft add rule inet "
                          "weftkvcut in udp sport { ");
    for (int i = 0; i < n / 2; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%u", i ? ", " : "", C.port[i]);
    o += (size_t)snprintf(cmd + o, sizeof cmd - o, " } udp dport { ");
    for (int i = n / 2; i < n; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%u", i > n / 2 ? ", " : "", C.port[i]);
    o += (size_t)snprintf(cmd + o, sizeof cmd - o, " } drop && nft add rule inet weftkvcut in udp sport { ");
    for (int i = n / 2; i < n; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%u", i > n / 2 ? ", " : "", C.port[i]);
    o += (size_t)snprintf(cmd + o, sizeof cmd - o, " } udp dport { ");
    for (int i = 0; i < n / 2; i++)
        o += (size_t)snprintf(cmd + o, sizeof cmd - o, "%s%u", i ? ", " : "", C.port[i]);
    snprintf(cmd + o, sizeof cmd - o, " } drop");
    if (system(cmd) != 0)
        fprintf(stderr, "bench: nft cut failed\n");
}

static int mode_partition(int n, int secs)
{
    if (cl_start(n) < 0)
        return 1;
    C.deadline = now_s() + 60;
    C.writes_left = 0;
    /* up and converged on nothing */
    while (C.phase == 0 && now_s() < C.deadline)
        uv_run(&C.loop, UV_RUN_ONCE);
    uv_timer_stop(&C.tick);
    nft_cut(1, n);
    double end = now_s() + secs;
    while (now_s() < end) { /* both sides write */
        write_random();
        uv_run(&C.loop, UV_RUN_NOWAIT);
        usleep(5000);
    }
    nft_cut(0, n);
    C.t_mark = now_s();
    C.phase = 2;
    C.deadline = C.t_mark + 120;
    uv_timer_start(&C.tick, on_tick, 1, 1);
    uv_run(&C.loop, UV_RUN_DEFAULT);
    double r = C.phase == 3 ? C.t_done - C.t_mark : -1;
    cl_stop();
    if (r < 0) {
        fprintf(stderr, "bench: no convergence after the partition\n");
        return 1;
    }
    char name[64];
    snprintf(name, sizeof name, "partition_heal_ms_N%d_%ds", n, secs);
    emit(name, r * 1000, "ms", 20000); /* the seed's claim: 20-40 s */
    return 0;
}

/* ------------------------------------------------------------------------ */
/* anti-entropy bytes                                                        */

static weft__kv_ent *mk(const weft_crypto *cr, const char *key, uint64_t hlc, uint8_t writer)
{
    size_t kl = strlen(key);
    weft__kv_ent *x = calloc(1, sizeof *x + 2 + kl);
    x->data[0] = 1;
    x->data[1] = 'b';
    memcpy(x->data + 2, key, kl);
    x->sk_len = (uint16_t)(2 + kl);
    x->hlc = hlc;
    x->writer.key[0] = writer;
    weft__kv_ent_hash(cr, x);
    return x;
}

static const weft_crypto *CR;
static void ae_apply(void *ctx, const weft__kv_view *v)
{
    weft__kv_tree *t = ctx;
    uint8_t sk[WEFT__KV_SK_MAX];
    size_t n = weft__kv_sk_make(sk, v->ns, v->ns_len, v->key, v->key_len);
    weft__kv_ent *old = weft__kv_tree_get(t, sk, n);
    if (old && weft__kv_version_cmp(v->hlc, v->writer, old->hlc, old->writer.key) <= 0)
        return;
    free(weft__kv_tree_put(t, weft__kv_ent_from_view(NULL, CR, v)));
}

static int mode_aebytes(int keys)
{
    CR = weft_crypto_sodium();
    weft__kv_tree a = {NULL, 1}, b = {NULL, 2};
    for (int i = 0; i < keys; i++) {
        char k[32];
        snprintf(k, sizeof k, "k%07d", i);
        free(weft__kv_tree_put(&a, mk(CR, k, 100 + (uint64_t)i, 1)));
        free(weft__kv_tree_put(&b, mk(CR, k, 100 + (uint64_t)i, 1)));
    }
    for (int d = 0; d < 10; d++) {
        char k[32];
        snprintf(k, sizeof k, "k%07u", rnd32() % (uint32_t)keys);
        free(weft__kv_tree_put(d & 1 ? &a : &b, mk(CR, k, 1000000000 + (uint64_t)d, 2)));
    }
    uint8_t *buf[2] = {malloc(WEFT__KV_RECON_OUT_CAP), malloc(WEFT__KV_RECON_OUT_CAP)};
    weft__kv_tree *t[2] = {&a, &b};
    ptrdiff_t n = weft__kv_recon_start(&a, 1, buf[0], WEFT__KV_RECON_OUT_CAP);
    size_t bytes = (size_t)n;
    int msgs = 1, cur = 0, to = 1;
    while (msgs < 100) {
        weft__kv_recon_env env = {t[to], ae_apply, t[to]};
        ptrdiff_t m = weft__kv_recon_process(&env, buf[cur], (size_t)n, buf[!cur],
                                             WEFT__KV_RECON_OUT_CAP);
        if (m < 0)
            return 1;
        msgs++;
        bytes += (size_t)m;
        if (buf[!cur][0] == WEFT__KV_MSG_DONE)
            break;
        cur = !cur;
        to = !to;
        n = m;
    }
    char name[64];
    snprintf(name, sizeof name, "ae_bytes_10diff_%dkeys", keys);
    /* baseline: resending the whole state (the seed's way), entries of
     * this size (sort key + stamp + writer + signature) */
    emit(name, (double)bytes, "bytes", (double)keys * (2 + 8 + 8 + 32 + 64));
    snprintf(name, sizeof name, "ae_msgs_10diff_%dkeys", keys);
    emit(name, msgs, "messages", 0);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_store writes|converge N LOSS|partition N SECS|aebytes KEYS\n");
        return 2;
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/weft-bench-store-XXXXXX");
    if (!mkdtemp(tmpdir))
        return 2;
    int rc = 2;
    if (!strcmp(argv[1], "writes"))
        rc = mode_writes(argc > 2 ? atoi(argv[2]) : 3);
    else if (!strcmp(argv[1], "converge") && argc >= 4)
        rc = mode_converge(atoi(argv[2]) > NODES_MAX ? NODES_MAX : atoi(argv[2]), atoi(argv[3]),
                           argc > 4 ? atoi(argv[4]) : 5);
    else if (!strcmp(argv[1], "partition") && argc >= 4)
        rc = mode_partition(atoi(argv[2]) > NODES_MAX ? NODES_MAX : atoi(argv[2]), atoi(argv[3]));
    else if (!strcmp(argv[1], "aebytes") && argc >= 3)
        rc = mode_aebytes(atoi(argv[2]));
    rmdir(tmpdir);
    return rc;
}
