/*
 * kvnode.c -- a small test program: one weft node on the libuv driver
 * with membership and the replicated store on a SQLite file, driven by
 * line commands on stdin, answering on stdout (one line each, flushed).
 * It stands in for weftd in the store's end-to-end tests until the daemon
 * carries the store.
 *
 *   kvnode --listen 127.0.0.1:PORT --data DIR --id N [--peer HOST:PORT]
 *          [--netkey STRING] [--sync off|normal|full]
 *
 * Prints "ready id=<hex> port=<port> loaded=<versions>" once up and
 * "alive N" whenever the number of alive members changes.  Commands:
 *   put NS KEY VALUE      -> "ok NS KEY" once durable, or "err NS KEY <code>"
 *   del NS KEY            -> "ok NS KEY" / "err ..."
 *   get TAG NS KEY        -> "get TAG VALUE" or "get TAG -"
 *   digest TAG            -> "digest TAG <32 hex> <versions>"
 *   dump TAG NS           -> "item TAG KEY VALUE" per live key, "dumped TAG N"
 *   storm NS PREFIX N K   -> writes PREFIX000000.. (value v-KEY), K per ms,
 *                            "ok NS KEY" for each, then "storm-done PREFIX"
 *   stats TAG             -> "stats TAG key=value..."
 *   quit
 * An error at start (database refused...) prints "error: ..." and exits 3.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "weft/crypto.h"
#include "weft/kv.h"
#include "weft/membership.h"
#include "weft/store.h"
#include "weft/uv.h"

typedef struct app {
    uv_loop_t *loop;
    weft_uv_node *node;
    weft_engine *e;
    weft_store *st;
    uv_pipe_t in;
    uv_timer_t storm;
    char line[65536];
    size_t len;
    char storm_ns[128], storm_prefix[64];
    long storm_i, storm_n, storm_k;
    uint32_t alive;
    int closing;
} app;

static app A;

static uint64_t wall_ms(void *ctx)
{
    (void)ctx;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void on_event(weft_uv_node *n, const weft_event *ev, void *ud)
{
    (void)n;
    (void)ud;
    if (WEFT_EV_FAMILY(ev->type) != WEFT_EVF_MEMBER)
        return;
    weft_membership_stats ms;
    if (weft_membership_stats_get(A.e, &ms) == 0 && ms.alive != A.alive) {
        A.alive = ms.alive;
        printf("alive %u\n", ms.alive);
    }
}

static void put_one(const char *ns, const char *key, const char *val, int del)
{
    uint64_t now = weft_uv_now_us();
    int rc = del ? weft_kv_delete(A.e, ns, strlen(ns), key, strlen(key), now)
                 : weft_kv_put(A.e, ns, strlen(ns), key, strlen(key), val, strlen(val), 0, now);
    if (rc == 0)
        printf("ok %s %s\n", ns, key);
    else
        printf("err %s %s %s\n", ns, key, weft_err_name(rc));
}

static void on_storm(uv_timer_t *t)
{
    for (long k = 0; k < A.storm_k && A.storm_i < A.storm_n; k++, A.storm_i++) {
        char key[96], val[128];
        snprintf(key, sizeof key, "%s%06ld", A.storm_prefix, A.storm_i);
        snprintf(val, sizeof val, "v-%s", key);
        put_one(A.storm_ns, key, val, 0);
    }
    if (A.storm_i >= A.storm_n) {
        uv_timer_stop(t);
        printf("storm-done %s\n", A.storm_prefix);
    }
}

static void on_closed(weft_uv_node *n, void *ud)
{
    (void)n;
    (void)ud;
}

static void quit(void)
{
    if (A.closing)
        return;
    A.closing = 1;
    uv_timer_stop(&A.storm);
    uv_close((uv_handle_t *)&A.storm, NULL);
    uv_read_stop((uv_stream_t *)&A.in);
    uv_close((uv_handle_t *)&A.in, NULL);
    weft_uv_node_close(A.node, on_closed);
}

static void command(char *l)
{
    char *argv[8];
    int argc = 0;
    for (char *tok = strtok(l, " \t\r"); tok && argc < 8; tok = strtok(NULL, " \t\r"))
        argv[argc++] = tok;
    if (!argc)
        return;
    const char *c = argv[0];
    if (!strcmp(c, "put") && argc == 4) {
        put_one(argv[1], argv[2], argv[3], 0);
    } else if (!strcmp(c, "del") && argc == 3) {
        put_one(argv[1], argv[2], NULL, 1);
    } else if (!strcmp(c, "get") && argc == 4) {
        weft_kv_item it;
        if (weft_kv_get(A.e, argv[2], strlen(argv[2]), argv[3], strlen(argv[3]), &it) == 0)
            printf("get %s %.*s\n", argv[1], (int)it.value_len, (const char *)it.value);
        else
            printf("get %s -\n", argv[1]);
    } else if (!strcmp(c, "digest") && argc == 2) {
        uint8_t d[16];
        uint64_t n = 0;
        weft_kv_digest(A.e, d, &n);
        printf("digest %s ", argv[1]);
        for (int i = 0; i < 16; i++)
            printf("%02x", d[i]);
        printf(" %llu\n", (unsigned long long)n);
    } else if (!strcmp(c, "dump") && argc == 3) {
        weft_kv_item it[256];
        char after[4096];
        size_t alen = 0, n, total = 0;
        int more;
        do {
            more = weft_kv_list(A.e, argv[2], strlen(argv[2]), NULL, 0, alen ? after : NULL,
                                alen, it, 256, &n);
            for (size_t i = 0; i < n; i++)
                printf("item %s %.*s %.*s\n", argv[1], (int)it[i].key_len,
                       (const char *)it[i].key, (int)it[i].value_len,
                       (const char *)it[i].value);
            total += n;
            if (n) {
                alen = it[n - 1].key_len < sizeof after ? it[n - 1].key_len : sizeof after;
                memcpy(after, it[n - 1].key, alen);
            }
        } while (more == 1);
        printf("dumped %s %zu\n", argv[1], total);
    } else if (!strcmp(c, "storm") && argc == 5) {
        snprintf(A.storm_ns, sizeof A.storm_ns, "%s", argv[1]);
        snprintf(A.storm_prefix, sizeof A.storm_prefix, "%s", argv[2]);
        A.storm_n = atol(argv[3]);
        A.storm_k = atol(argv[4]) > 0 ? atol(argv[4]) : 1;
        A.storm_i = 0;
        uv_timer_start(&A.storm, on_storm, 1, 1);
    } else if (!strcmp(c, "stats") && argc == 2) {
        weft_kv_stats s;
        weft_kv_stats_get(A.e, &s);
        printf("stats %s entries=%llu tombstones=%llu applied_push=%llu applied_sync=%llu "
               "sync_rounds=%llu sync_bytes_out=%llu push_bytes_out=%llu\n",
               argv[1], (unsigned long long)s.entries, (unsigned long long)s.tombstones,
               (unsigned long long)s.applied_push, (unsigned long long)s.applied_sync,
               (unsigned long long)s.sync_rounds, (unsigned long long)s.sync_bytes_out,
               (unsigned long long)s.push_bytes_out);
    } else if (!strcmp(c, "quit")) {
        quit();
    } else {
        printf("bad-command %s\n", c);
    }
}

static void on_alloc(uv_handle_t *h, size_t sz, uv_buf_t *b)
{
    (void)h;
    (void)sz;
    b->base = A.line + A.len;
    b->len = sizeof A.line - A.len - 1;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)s;
    (void)b;
    if (n < 0) { /* EOF: the test closed our input */
        quit();
        return;
    }
    A.len += (size_t)n;
    char *start = A.line, *nl;
    while ((nl = memchr(start, '\n', A.len - (size_t)(start - A.line))) != NULL) {
        *nl = 0;
        command(start);
        start = nl + 1;
    }
    A.len -= (size_t)(start - A.line);
    memmove(A.line, start, A.len);
    if (A.len >= sizeof A.line - 1)
        A.len = 0; /* a line too long: dropped */
}

static int usage(void)
{
    fprintf(stderr, "usage: kvnode --listen ADDR --data DIR --id N [--peer ADDR] "
                    "[--netkey S] [--sync off|normal|full]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *listen = NULL, *data = NULL, *peer = NULL, *netkey = "kvnode-test";
    long id = -1;
    int sync = WEFT_STORE_SYNC_NORMAL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--listen"))
            listen = argv[i + 1];
        else if (!strcmp(argv[i], "--data"))
            data = argv[i + 1];
        else if (!strcmp(argv[i], "--peer"))
            peer = argv[i + 1];
        else if (!strcmp(argv[i], "--id"))
            id = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--netkey"))
            netkey = argv[i + 1];
        else if (!strcmp(argv[i], "--sync"))
            sync = !strcmp(argv[i + 1], "full") ? WEFT_STORE_SYNC_FULL
                   : !strcmp(argv[i + 1], "off") ? WEFT_STORE_SYNC_OFF
                                                  : WEFT_STORE_SYNC_NORMAL;
        else
            return usage();
    }
    if (!listen || !data || id < 0)
        return usage();
    setvbuf(stdout, NULL, _IOLBF, 0);
    const weft_crypto *cr = weft_crypto_sodium();
    A.loop = uv_default_loop();
    weft_uv_config uc;
    weft_uv_config_default(&uc);
    if (weft_addr_parse(&uc.listen[0], listen) < 0)
        return usage();
    uc.listen_count = 1;
    uint8_t seed[32] = {0}, pk[32], h[64];
    memcpy(seed, &id, sizeof id);
    seed[31] = 0x6b;
    cr->sign_keypair_seed(cr->ctx, pk, uc.engine.identity_secret, seed);
    weft_iov iov = {netkey, strlen(netkey)};
    cr->hash(cr->ctx, h, &iov, 1);
    memcpy(uc.engine.network_key, h, 32);
    uc.on_event = on_event;
    int rc = weft_uv_node_new(&A.node, A.loop, &uc, NULL);
    if (rc < 0) {
        printf("error: node: %s %s\n", weft_strerror(rc), weft_uv_last_error());
        return 3;
    }
    A.e = weft_uv_node_engine(A.node);
    uint64_t now = weft_uv_now_us();
    weft_membership_config mc;
    weft_membership_config_default(&mc);
    mc.incarnation_start = (uint32_t)(wall_ms(NULL) / 1000);
    weft_addr self;
    weft_uv_node_local_addr(A.node, 0, &self);
    rc = weft_membership_attach(A.e, &mc, now);
    if (rc == 0)
        rc = weft_membership_set_addr(A.e, &self, now);
    char path[4096], err[WEFT_STORE_ERRMSG_MAX];
    snprintf(path, sizeof path, "%s/store.db", data);
    uint8_t fp[32];
    weft_kv_mesh_fingerprint(A.e, fp);
    if (rc == 0) {
        rc = weft_store_sqlite_open(&A.st, path, fp, sync, err, sizeof err);
        if (rc < 0) {
            printf("error: store %s: %s (%s)\n", path, err, weft_err_name(rc));
            return 3;
        }
    }
    weft_kv_config kc;
    weft_kv_config_default(&kc);
    kc.store = A.st;
    kc.wall_ms = wall_ms;
    if (rc == 0)
        rc = weft_kv_attach(A.e, &kc, now);
    if (rc == 0 && peer) {
        weft_addr pa;
        rc = weft_addr_parse(&pa, peer);
        if (rc == 0)
            rc = weft_membership_join(A.e, &pa, now);
    }
    if (rc < 0) {
        printf("error: start: %s\n", weft_strerror(rc));
        return 3;
    }
    uint64_t loaded = 0;
    weft_kv_digest(A.e, NULL, &loaded);
    char hex[WEFT_ID_HEX_LEN];
    weft_id_hex(weft_engine_id(A.e), hex);
    printf("ready id=%s port=%u loaded=%llu\n", hex, self.port, (unsigned long long)loaded);
    uv_timer_init(A.loop, &A.storm);
    uv_pipe_init(A.loop, &A.in, 0);
    uv_pipe_open(&A.in, 0);
    uv_read_start((uv_stream_t *)&A.in, on_alloc, on_read);
    uv_run(A.loop, UV_RUN_DEFAULT);
    uv_loop_close(A.loop);
    weft_store_sqlite_close(A.st);
    return 0;
}
