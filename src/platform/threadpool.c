/*
 * threadpool.c -- a small pthread pool that implements weft_registry_exec,
 * so that the sans-IO registry can spread a search or an index build over
 * the cores without creating threads itself.
 *
 * One job at a time: parallel_for publishes (fn, arg, nchunks) under the
 * pool's mutex, bumps the job generation and wakes the workers; the
 * workers and the caller take chunk numbers from one atomic counter until
 * none are left; the caller returns once every worker has reported back,
 * so the job's memory can be reused immediately.  Callers from several
 * threads are serialised by a second mutex.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "base/util.h"
#include "weft/registry.h"

struct weft_threadpool {
    const weft_allocator *a;
    unsigned nthreads;          /* workers + the caller */
    pthread_t *th;
    unsigned started;           /* workers running */
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    pthread_mutex_t job_mu;     /* one parallel_for at a time */
    uint64_t gen;               /* job generation, under mu */
    unsigned active;            /* workers not yet done with gen */
    int stop;
    /* the current job */
    void (*fn)(void *arg, size_t chunk);
    void *arg;
    size_t nchunks;
    size_t next;                /* next chunk, atomic */
};

static void take_chunks(weft_threadpool *tp)
{
    for (;;) {
        size_t i = __atomic_fetch_add(&tp->next, 1, __ATOMIC_RELAXED);
        if (i >= tp->nchunks)
            return;
        tp->fn(tp->arg, i);
    }
}

static void *worker(void *p)
{
    weft_threadpool *tp = p;
    uint64_t seen = 0;
    pthread_mutex_lock(&tp->mu);
    for (;;) {
        while (!tp->stop && tp->gen == seen)
            pthread_cond_wait(&tp->cv_work, &tp->mu);
        if (tp->stop)
            break;
        seen = tp->gen;
        pthread_mutex_unlock(&tp->mu);
        take_chunks(tp);
        pthread_mutex_lock(&tp->mu);
        if (--tp->active == 0)
            pthread_cond_signal(&tp->cv_done);
    }
    pthread_mutex_unlock(&tp->mu);
    return NULL;
}

static void pool_parallel_for(void *ctx, size_t nchunks,
                              void (*fn)(void *arg, size_t chunk), void *arg)
{
    weft_threadpool *tp = ctx;
    if (nchunks == 0)
        return;
    if (tp->started == 0 || nchunks == 1) {
        for (size_t i = 0; i < nchunks; i++)
            fn(arg, i);
        return;
    }
    pthread_mutex_lock(&tp->job_mu);
    pthread_mutex_lock(&tp->mu);
    tp->fn = fn;
    tp->arg = arg;
    tp->nchunks = nchunks;
    __atomic_store_n(&tp->next, 0, __ATOMIC_RELAXED);
    tp->active = tp->started;
    tp->gen++;
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    take_chunks(tp);
    pthread_mutex_lock(&tp->mu);
    while (tp->active)
        pthread_cond_wait(&tp->cv_done, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
    pthread_mutex_unlock(&tp->job_mu);
}

int weft_threadpool_new(weft_threadpool **out, unsigned nthreads,
                        const weft_allocator *a)
{
    if (!out)
        return WEFT_ERR_INVAL;
    *out = NULL;
    if (nthreads == 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nthreads = n > 0 ? (unsigned)n : 1;
    }
    if (nthreads > 1024)
        return WEFT_ERR_INVAL;
    weft_threadpool *tp = weft__calloc(a, sizeof *tp);
    if (!tp)
        return WEFT_ERR_NOMEM;
    tp->a = a;
    tp->nthreads = nthreads;
    tp->th = weft__calloc(a, nthreads * sizeof *tp->th);
    if (!tp->th) {
        weft__free(a, tp);
        return WEFT_ERR_NOMEM;
    }
    pthread_mutex_init(&tp->mu, NULL);
    pthread_mutex_init(&tp->job_mu, NULL);
    pthread_cond_init(&tp->cv_work, NULL);
    pthread_cond_init(&tp->cv_done, NULL);
    for (unsigned i = 0; i + 1 < nthreads; i++) {
        if (pthread_create(&tp->th[i], NULL, worker, tp) != 0) {
            weft_threadpool_del(tp);
            return WEFT_ERR_NOMEM;
        }
        tp->started++;
    }
    *out = tp;
    return 0;
}

void weft_threadpool_del(weft_threadpool *tp)
{
    if (!tp)
        return;
    pthread_mutex_lock(&tp->mu);
    tp->stop = 1;
    pthread_cond_broadcast(&tp->cv_work);
    pthread_mutex_unlock(&tp->mu);
    for (unsigned i = 0; i < tp->started; i++)
        pthread_join(tp->th[i], NULL);
    pthread_mutex_destroy(&tp->mu);
    pthread_mutex_destroy(&tp->job_mu);
    pthread_cond_destroy(&tp->cv_work);
    pthread_cond_destroy(&tp->cv_done);
    weft__free(tp->a, tp->th);
    weft__free(tp->a, tp);
}

weft_registry_exec weft_threadpool_exec(weft_threadpool *tp)
{
    weft_registry_exec e;
    memset(&e, 0, sizeof e);
    if (tp) {
        e.ctx = tp;
        e.nthreads = tp->nthreads;
        e.parallel_for = pool_parallel_for;
    }
    return e;
}
