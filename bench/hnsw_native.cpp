// Native hnswlib driver: the bar vdb's HNSW is held to (issue 4).
//
// Debian builds python3-hnswlib for baseline x86-64 (SSE only); this driver
// compiles the same library's header (Debian's libhnswlib-dev, 0.6.2) with
// -O3 -march=native, so hnswlib gets the AVX-512/AVX2 kernels this CPU has.
// It reads the .npy files `vdb bench --save DIR` writes, builds with N
// threads (an atomic-counter parallel-for, as hnswlib's Python binding
// does), searches single-threaded over an ef sweep, and prints one JSON
// object on stdout.
//
// Built with -DVDB_INTERLEAVE -Isrc and linked with vdb's libvdb.a, it also
// builds vdb's HNSW on the same rows in the same process and interleaves the
// two libraries' timed search passes, so a ratio between them is not skewed
// by load from other processes drifting between two separate runs; its
// figures appear under "vdb_same_process".
//
// Build:  g++ -O3 -march=native -std=c++17 -pthread
//             bench/hnsw_native.cpp -o build/hnsw_native
// Usage:  hnsw_native DATA.npy QUERIES.npy TRUTH.npy METRIC(cosine|l2) M EFC THREADS
//                     EF[,EF...]
#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <functional>

#ifdef VDB_INTERLEAVE
extern "C" {
#include "core/pool.h"
#include "index/hnsw.h"
}
#endif

namespace {

struct Matrix {
    std::vector<char> bytes;
    size_t rows = 0, cols = 0;
    std::string descr;
};

// Minimal .npy reader: version 1/2 headers, 2-D C-order '<f4' or '<i4'.
Matrix read_npy(const char *path)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        fprintf(stderr, "cannot open %s\n", path);
        exit(1);
    }
    char magic[8];
    in.read(magic, 8);
    if (memcmp(magic, "\x93NUMPY", 6) != 0) {
        fprintf(stderr, "%s: not a .npy file\n", path);
        exit(1);
    }
    uint32_t hlen = 0;
    if (magic[6] == 1) {
        uint16_t h16;
        in.read(reinterpret_cast<char *>(&h16), 2);
        hlen = h16;
    } else {
        in.read(reinterpret_cast<char *>(&hlen), 4);
    }
    std::string header(hlen, '\0');
    in.read(&header[0], hlen);
    Matrix m;
    size_t d = header.find("'descr': '");
    m.descr = header.substr(d + 10, 3);
    if (header.find("'fortran_order': False") == std::string::npos) {
        fprintf(stderr, "%s: Fortran order not supported\n", path);
        exit(1);
    }
    size_t s = header.find("'shape': (");
    if (sscanf(header.c_str() + s + 10, "%zu, %zu", &m.rows, &m.cols) != 2) {
        fprintf(stderr, "%s: need a 2-D array\n", path);
        exit(1);
    }
    m.bytes.resize(m.rows * m.cols * 4);
    in.read(m.bytes.data(), (std::streamsize)m.bytes.size());
    if (!in || (m.descr != "<f4" && m.descr != "<i4")) {
        fprintf(stderr, "%s: short file or dtype %s (need <f4/<i4)\n", path, m.descr.c_str());
        exit(1);
    }
    return m;
}

double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

long rss_bytes()
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f != nullptr) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4096;
}

void normalize(float *v, size_t dim)
{
    double s = 0;
    for (size_t i = 0; i < dim; i++)
        s += (double)v[i] * v[i];
    if (s > 0) {
        float inv = (float)(1.0 / std::sqrt(s));
        for (size_t i = 0; i < dim; i++)
            v[i] *= inv;
    }
}


struct Point {
    size_t ef;
    double recall, qps, p50_ms, p99_ms;
};

// Latencies of the fastest pass so far.
struct Timing {
    double best = -1;
    std::vector<double> lat;
};

using Searcher = std::function<void(size_t ef, size_t query, std::vector<int32_t> *ids)>;

void timed_pass(const Searcher &one, size_t ef, size_t nq, Timing *t)
{
    std::vector<double> lat(nq);
    double sum = 0;
    for (size_t i = 0; i < nq; i++) {
        double s = now();
        one(ef, i, nullptr);
        lat[i] = now() - s;
        sum += lat[i];
    }
    if (t->best < 0 || sum < t->best) {
        t->best = sum;
        t->lat = lat;
    }
}

// Recall from one untimed pass (ids found in the exact top-k), QPS and
// latency percentiles from the fastest timed pass.
Point finish(const Searcher &one, size_t ef, size_t nq, size_t k, const int32_t *gt, Timing *t)
{
    size_t hits = 0, wanted = 0;
    std::vector<int32_t> got;
    for (size_t i = 0; i < nq; i++) {
        one(ef, i, &got);
        for (size_t j = 0; j < k; j++) {
            int32_t want = gt[i * k + j];
            if (want < 0)
                continue;
            wanted++;
            if (std::find(got.begin(), got.end(), want) != got.end())
                hits++;
        }
    }
    std::sort(t->lat.begin(), t->lat.end());
    return Point{ef, wanted ? (double)hits / wanted : 1.0, nq / t->best, t->lat[nq / 2] * 1e3,
                 t->lat[std::min(nq - 1, nq * 99 / 100)] * 1e3};
}

void print_curve(const std::vector<Point> &curve)
{
    printf("[");
    for (size_t i = 0; i < curve.size(); i++)
        printf("%s{\"ef\": %zu, \"recall_at_k\": %.5f, \"single_qps\": %.1f, \"p50_ms\": %.4f, "
               "\"p99_ms\": %.4f}",
               i ? ", " : "", curve[i].ef, curve[i].recall, curve[i].qps, curve[i].p50_ms,
               curve[i].p99_ms);
    printf("]");
}

}  // namespace

int main(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr,
                "usage: %s DATA.npy QUERIES.npy TRUTH.npy cosine|l2 M EFC THREADS EF[,EF...]\n",
                argv[0]);
        return 2;
    }
    Matrix data = read_npy(argv[1]), queries = read_npy(argv[2]), truth = read_npy(argv[3]);
    bool cosine = strcmp(argv[4], "cosine") == 0;
    size_t M = strtoul(argv[5], nullptr, 10), efc = strtoul(argv[6], nullptr, 10);
    int threads = atoi(argv[7]);
    std::vector<size_t> efs;
    std::stringstream list(argv[8]);
    for (std::string tok; std::getline(list, tok, ',');)
        efs.push_back(strtoul(tok.c_str(), nullptr, 10));
    size_t n = data.rows, dim = data.cols, nq = queries.rows, k = truth.cols;
    float *x = reinterpret_cast<float *>(data.bytes.data());
    float *q = reinterpret_cast<float *>(queries.bytes.data());
    const int32_t *gt = reinterpret_cast<const int32_t *>(truth.bytes.data());
    if (cosine) {
        for (size_t i = 0; i < n; i++)
            normalize(x + i * dim, dim);
        for (size_t i = 0; i < nq; i++)
            normalize(q + i * dim, dim);
    }
    hnswlib::SpaceInterface<float> *space;
    if (cosine)
        space = new hnswlib::InnerProductSpace(dim);
    else
        space = new hnswlib::L2Space(dim);

    long rss0 = rss_bytes();
    auto *index = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    double t0 = now();
    // Like hnswlib's Python add_items: the first point alone, then the rest
    // claimed one by one by `threads` workers.
    index->addPoint(x, 0);
    std::atomic<size_t> next(1);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++)
        workers.emplace_back([&]() {
            for (size_t i; (i = next.fetch_add(1)) < n;)
                index->addPoint(x + i * dim, i);
        });
    for (auto &w : workers)
        w.join();
    double build_s = now() - t0;
    long rss1 = rss_bytes();

    printf("{\"peer\": \"hnswlib-native\", \"n\": %zu, \"dim\": %zu, \"M\": %zu, "
           "\"ef_construction\": %zu, \"build_threads\": %d, \"build_seconds\": %.4f, "
           "\"build_vectors_per_s\": %.1f, \"rss_delta_bytes\": %ld, \"index_bytes_est\": %zu, "
           "\"curve\": ",
           n, dim, M, efc, threads, build_s, (double)n / build_s, rss1 - rss0,
           index->max_elements_ * index->size_data_per_element_ +
               index->max_elements_ * (sizeof(void *) + sizeof(int) + sizeof(std::mutex)) +
               n * (sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint) + 16));
    Searcher hnsw_one = [&](size_t ef, size_t i, std::vector<int32_t> *ids) {
        (void)ef;
        auto res = index->searchKnn(q + i * dim, k);
        if (ids != nullptr)
            for (ids->clear(); !res.empty(); res.pop())
                ids->push_back((int32_t)res.top().second);
    };
#ifdef VDB_INTERLEAVE
    // vdb's index on the same rows in the same process, built right after
    // hnswlib's with the same thread count, searched in passes interleaved
    // with hnswlib's so both see the same machine load.
    // vdb reads rows from its store's vector array, which is 64-byte
    // aligned (store/vecset.h); give it the same layout here rather than the
    // .npy buffer's arbitrary alignment. hnswlib likewise keeps its own copy.
    vdb_pool_global_configure(threads);
    size_t bytes = (n * dim * sizeof(float) + 63) / 64 * 64;
    float *rows = static_cast<float *>(std::aligned_alloc(64, bytes));
    memcpy(rows, x, n * dim * sizeof(float));
    vdb_vecview view = {rows, nullptr, (uint32_t)n, (uint32_t)dim,
                        cosine ? VDB_METRIC_COSINE : VDB_METRIC_L2};
    vdb_hnsw_params params;
    vdb_hnsw_params_default(&params);
    params.m = (uint32_t)M;
    params.ef_construction = (uint32_t)efc;
    vdb_hnsw *vindex = vdb_hnsw_new((uint32_t)dim, view.metric, &params, nullptr);
    double v0 = now();
    if (vindex == nullptr || vdb_hnsw_build(vindex, &view, 0, (uint32_t)n, nullptr) != 0) {
        fprintf(stderr, "vdb build failed\n");
        return 1;
    }
    double vdb_build_s = now() - v0;
    vdb_hnsw_scratch *scratch = vdb_hnsw_scratch_new(nullptr);
    std::vector<vdb_hit> hits(k);
    Searcher vdb_one = [&](size_t ef, size_t i, std::vector<int32_t> *ids) {
        size_t got = 0;
        vdb_hnsw_search(vindex, &view, q + i * dim, k, ef, nullptr, scratch, hits.data(), &got,
                        nullptr);
        if (ids != nullptr) {
            ids->clear();
            for (size_t j = 0; j < got; j++)
                ids->push_back((int32_t)hits[j].id);
        }
    };
#endif
    std::vector<Point> hcurve, vcurve;
    for (size_t e = 0; e < efs.size(); e++) {
        index->setEf(efs[e]);
        Timing th, tv;
        if (e == 0)
            timed_pass(hnsw_one, efs[e], nq, &th);  // warm-up, untimed
        // Best of three passes (the machine is shared), as vdb's bench does.
        for (int rep = 0; rep < 3; rep++) {
            timed_pass(hnsw_one, efs[e], nq, &th);
#ifdef VDB_INTERLEAVE
            if (e == 0 && rep == 0)
                timed_pass(vdb_one, efs[e], nq, &tv);  // warm-up
            timed_pass(vdb_one, efs[e], nq, &tv);
#endif
        }
        hcurve.push_back(finish(hnsw_one, efs[e], nq, k, gt, &th));
#ifdef VDB_INTERLEAVE
        vcurve.push_back(finish(vdb_one, efs[e], nq, k, gt, &tv));
#endif
    }
    print_curve(hcurve);
#ifdef VDB_INTERLEAVE
    printf(", \"vdb_same_process\": {\"build_seconds\": %.4f, \"build_vectors_per_s\": %.1f, "
           "\"index_bytes\": %zu, \"curve\": ",
           vdb_build_s, (double)n / vdb_build_s, vdb_hnsw_memory(vindex) + n * dim * sizeof(float));
    print_curve(vcurve);
    printf("}");
    vdb_hnsw_scratch_free(scratch);
    vdb_hnsw_free(vindex);
    std::free(rows);
#endif
    printf("}\n");
    delete index;
    delete space;
    return 0;
}
