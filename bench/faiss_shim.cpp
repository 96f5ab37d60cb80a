// faiss_shim.cpp -- the few FAISS calls bench_registry makes, behind a C
// interface.  Debian's libfaiss-dev ships FAISS's C API headers but not its
// library (libfaiss_c), so the benchmark carries this shim instead; it is
// compiled only when FAISS is found (CMakeLists.txt) and only into the
// benchmark.  Every function catches FAISS's exceptions.
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVF.h>
#include <faiss/index_factory.h>
#include <faiss/utils/distances.h>
#include <omp.h>

#include <cstdint>
#include <string>

extern "C" {

// An exact inner-product index over n vectors of d floats (copied).
void *weft_bench_faiss_flat_new(int d, long n, const float *x)
{
    try {
        auto *idx = new faiss::IndexFlatIP(d);
        idx->add(n, x);
        return idx;
    } catch (...) {
        return nullptr;
    }
}

// IVF with 8-bit scalar quantisation of residuals (inner product), trained
// on the first ntrain vectors, nprobe lists visited per query.
void *weft_bench_faiss_ivfsq8_new(int d, long n, const float *x, int nlist,
                                  long ntrain)
{
    try {
        std::string desc = "IVF" + std::to_string(nlist) + ",SQ8";
        faiss::Index *idx = faiss::index_factory(d, desc.c_str(),
                                                 faiss::METRIC_INNER_PRODUCT);
        idx->train(ntrain, x);
        idx->add(n, x);
        return idx;
    } catch (...) {
        return nullptr;
    }
}

void weft_bench_faiss_set_nprobe(void *p, int nprobe)
{
    if (auto *ivf = dynamic_cast<faiss::IndexIVF *>(static_cast<faiss::Index *>(p)))
        ivf->nprobe = nprobe;
}

int weft_bench_faiss_search(void *p, long nq, const float *q, long k, float *dist,
                            int64_t *ids)
{
    try {
        static_cast<faiss::Index *>(p)->search(nq, q, k, dist, ids);
        return 0;
    } catch (...) {
        return -1;
    }
}

void weft_bench_faiss_del(void *p) { delete static_cast<faiss::Index *>(p); }

void weft_bench_faiss_threads(int n) { omp_set_num_threads(n); }

// FAISS switches from its own loop to BLAS sgemm at this many queries.
int weft_bench_faiss_blas_threshold(void) { return faiss::distance_compute_blas_threshold; }

} // extern "C"
