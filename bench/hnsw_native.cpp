// Native HNSW peers: the bar vdb's HNSW is held to (issues 4 and 13).
//
// Debian builds python3-hnswlib for baseline x86-64 (SSE only); this driver
// compiles the peers' own headers with -O3 -march=native so they get the
// AVX-512/AVX2 kernels this CPU has:
//   * hnswlib: the header on the include path. bench/fetch-peers.sh installs
//     npm's hnswlib-node, whose src/ carries hnswlib 0.8.0, and
//     bench/peers_hnsw.py puts it ahead of Debian's libhnswlib-dev (0.6.2);
//     VDB_HNSWLIB_LABEL names which one was compiled in.
//   * USearch (with -DVDB_WITH_USEARCH): npm's `usearch` package headers,
//     index_dense_gt with USEARCH_USE_NUMKONG=0: its own portable distance
//     loops, which -O3 -march=native auto-vectorizes. (Its NumKong SIMD
//     library needs a separately built static library and a compiler with
//     __bf16, which Debian 12's g++ 12 lacks; see BENCHMARKS.md.)
// It reads the .npy files `vdb bench --save DIR` writes, builds each engine
// with N threads, searches single-threaded over an ef sweep, and prints one
// JSON object on stdout: {"engines": [{peer, build..., curve}, ...]}.
//
// Built with -DVDB_INTERLEAVE -Isrc and linked with vdb's libvdb.a, it also
// builds vdb's HNSW on the same rows in the same process. At every ef the
// engines' timed passes alternate (hnswlib, usearch, vdb, hnswlib, ...,
// three rounds, best pass kept), so a ratio between them is not skewed by
// load from other processes drifting between separate runs.
//
// On a machine shared with other work, VDB_PEER_CPU_TIME=1 ranks and
// reports each pass by the thread CPU time it used instead of its wall
// time (a search runs on one thread, so that is its time on an idle core,
// without the other processes' preemption; latency percentiles stay wall
// time), and VDB_PEER_REPEATS=N takes the best of N passes instead of 3.
//
// VDB_PEER_LOCK=FILE takes an exclusive flock on FILE (the benchmark lock,
// /tmp/vdb-bench.lock) after the builds and before the timed searches, for
// runs whose builds are too long to hold the lock (1M rows on a shared VM):
// the searches are then the only part timed under the lock.
//
// Build:  see bench/peers_hnsw.py run_native() (or `make bench-peers`).
// Usage:  hnsw_native DATA.npy QUERIES.npy TRUTH.npy METRIC(cosine|l2) M EFC THREADS
//                     EF[,EF...]
#include <hnswlib/hnswlib.h>
#include <fcntl.h>
#include <sys/file.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>
#include <functional>

#ifndef VDB_HNSWLIB_LABEL
#define VDB_HNSWLIB_LABEL "hnswlib-native"
#endif
#ifdef VDB_WITH_USEARCH
// USearch's portable distance loops are float reductions, which GCC only
// vectorizes when it may reassociate; allow that for USearch's code alone
// (hnswlib and vdb use explicit SIMD and are unaffected) so the peer is
// measured as a user building it for speed would get it.
#ifdef VDB_USEARCH_REASSOC
#pragma GCC push_options
#pragma GCC optimize("associative-math", "no-signed-zeros", "no-trapping-math")
#endif
#include <usearch/index_dense.hpp>
#ifdef VDB_USEARCH_REASSOC
#pragma GCC pop_options
#endif
#endif

#ifdef VDB_INTERLEAVE
extern "C" {
#include "core/pool.h"
#include "index/hnsw.h"
#include "index/quant.h"
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

double thread_cpu()
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

const bool cpu_time = getenv("VDB_PEER_CPU_TIME") != nullptr && atoi(getenv("VDB_PEER_CPU_TIME"));

void timed_pass(const Searcher &one, size_t ef, size_t nq, Timing *t)
{
    std::vector<double> lat(nq);
    double sum = 0, c0 = thread_cpu();
    for (size_t i = 0; i < nq; i++) {
        double s = now();
        one(ef, i, nullptr);
        lat[i] = now() - s;
        sum += lat[i];
    }
    if (cpu_time)
        sum = thread_cpu() - c0;
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

struct Engine {
    std::string name;
    double build_s = 0;
    long rss_delta = 0;
    size_t mem = 0; /* graph + vectors, as the engine reports or estimated */
    std::function<void(size_t ef)> set_ef;
    Searcher one;
};

// Items [from, n) claimed one by one by `threads` workers (an atomic
// counter, as hnswlib's Python binding does); fn(item, worker index).
void parallel_for(size_t from, size_t n, int threads, const std::function<void(size_t, int)> &fn)
{
    std::atomic<size_t> next(from);
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; t++)
        workers.emplace_back([&, t]() {
            for (size_t i; (i = next.fetch_add(1)) < n;)
                fn(i, t);
        });
    for (auto &w : workers)
        w.join();
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
    std::vector<Engine> engines;
    long rss0 = rss_bytes();
    hnswlib::SpaceInterface<float> *space;
    if (cosine)
        space = new hnswlib::InnerProductSpace(dim);
    else
        space = new hnswlib::L2Space(dim);
    auto *index = new hnswlib::HierarchicalNSW<float>(space, n, M, efc, 100);
    {
        double t0 = now();
        // Like hnswlib's Python add_items: the first point alone, then the
        // rest claimed one by one by `threads` workers.
        index->addPoint(x, 0);
        parallel_for(1, n, threads, [&](size_t i, int) { index->addPoint(x + i * dim, i); });
        Engine e;
        e.name = VDB_HNSWLIB_LABEL;
        e.build_s = now() - t0;
        e.rss_delta = rss_bytes() - rss0;
        e.mem = index->max_elements_ * index->size_data_per_element_ +
                index->max_elements_ * (sizeof(void *) + sizeof(int) + sizeof(std::mutex)) +
                n * (sizeof(hnswlib::labeltype) + sizeof(hnswlib::tableint) + 16);
        e.set_ef = [&](size_t ef) { index->setEf(ef); };
        e.one = [&](size_t, size_t i, std::vector<int32_t> *ids) {
            auto res = index->searchKnn(q + i * dim, k);
            if (ids != nullptr)
                for (ids->clear(); !res.empty(); res.pop())
                    ids->push_back((int32_t)res.top().second);
        };
        engines.push_back(e);
    }
#ifdef VDB_WITH_USEARCH
    using namespace unum::usearch;
    using usearch_index = index_dense_gt<uint64_t, uint32_t>;
    usearch_index uindex;
    {
        long r0 = rss_bytes();
        metric_punned_t metric(dim, cosine ? metric_kind_t::ip_k : metric_kind_t::l2sq_k,
                               scalar_kind_t::f32_k);
        index_dense_config_t config(M);
        config.expansion_add = efc;
        auto made = usearch_index::make(metric, config, default_free_value<uint64_t>(),
                                        index_limits_t(n, (size_t)threads));
        if (!made) {
            fprintf(stderr, "usearch: %s\n", made.error.release());
            return 1;
        }
        uindex = std::move(made.index);
        double t0 = now();
        parallel_for(0, n, threads, [&](size_t i, int thread) {
            auto added = uindex.add((uint64_t)i, x + i * dim, (size_t)thread);
            if (!added) {
                fprintf(stderr, "usearch add: %s\n", added.error.release());
                exit(1);
            }
        });
        Engine e;
        e.name = "usearch-" + std::to_string(USEARCH_VERSION_MAJOR) + "." +
                 std::to_string(USEARCH_VERSION_MINOR) + "." +
                 std::to_string(USEARCH_VERSION_PATCH);
        e.build_s = now() - t0;
        e.rss_delta = rss_bytes() - r0;
        e.mem = uindex.memory_usage();
        e.set_ef = [&](size_t ef) { uindex.change_expansion_search(ef); };
        std::vector<uint64_t> keys(k);
        e.one = [&, keys](size_t, size_t i, std::vector<int32_t> *ids) mutable {
            auto res = uindex.search(q + i * dim, k, 0);
            size_t got = res.dump_to(keys.data(), k);
            if (ids != nullptr) {
                ids->clear();
                for (size_t j = 0; j < got; j++)
                    ids->push_back((int32_t)keys[j]);
            }
        };
        engines.push_back(e);
    }
#endif
#ifdef VDB_INTERLEAVE
    // vdb's index on the same rows in the same process, built right after
    // the peers with the same thread count. vdb reads rows from its store's
    // vector array, which is 64-byte aligned (store/vecset.h); give it the
    // same layout here rather than the .npy buffer's arbitrary alignment.
    // The peers likewise keep their own copies.
    vdb_pool_global_configure(threads);
    long vr0 = rss_bytes();
    size_t bytes = (n * dim * sizeof(float) + 63) / 64 * 64;
    float *rows = static_cast<float *>(std::aligned_alloc(64, bytes));
    memcpy(rows, x, n * dim * sizeof(float));
    vdb_vecview view = {rows, nullptr, (uint32_t)n, (uint32_t)dim,
                        cosine ? VDB_METRIC_COSINE : VDB_METRIC_L2};
    vdb_hnsw_params params;
    vdb_hnsw_params_default(&params);
    params.m = (uint32_t)M;
    params.ef_construction = (uint32_t)efc;
    vdb_hnsw *vindex = nullptr;
    int vrc = vdb_hnsw_new((uint32_t)dim, view.metric, &params, &vindex, nullptr);
    double v0 = now();
    if (vrc != 0 || vdb_hnsw_build(vindex, &view, 0, (uint32_t)n, nullptr) != 0) {
        fprintf(stderr, "vdb build failed\n");
        return 1;
    }
    vdb_hnsw_scratch *scratch = nullptr;
    if (vdb_hnsw_scratch_new(&scratch, nullptr) != VDB_OK) {
        fprintf(stderr, "vdb scratch failed\n");
        return 1;
    }
    std::vector<vdb_hit> hits(k);
    {
        Engine e;
        e.name = "vdb";
        e.build_s = now() - v0;
        e.rss_delta = rss_bytes() - vr0;
        e.mem = vdb_hnsw_memory(vindex) + n * dim * sizeof(float);
        e.set_ef = [](size_t) {};
        e.one = [&](size_t ef, size_t i, std::vector<int32_t> *ids) {
            size_t got = 0;
            vdb_hnsw_search(vindex, &view, q + i * dim, k, ef, nullptr, scratch, hits.data(),
                            &got, nullptr);
            if (ids != nullptr) {
                ids->clear();
                for (size_t j = 0; j < got; j++)
                    ids->push_back((int32_t)hits[j].id);
            }
        };
        engines.push_back(e);
    }
    // The same graph traversed on int8 codes (392-396 B a row instead of
    // 1,536 at 384-d), the ef results re-ranked on the float rows: what a
    // store with `quantization: int8` runs. Its memory is what a search
    // keeps resident: graph + codes (the float rows stay mapped in a store
    // and only the ef results are read for the re-rank).
    vdb_quant *q8 = nullptr;
    vdb_quant_scratch *s8 = nullptr;
    if (vdb_quant_build(VDB_QUANT_INT8, &view, &q8, nullptr) != VDB_OK ||
        vdb_quant_scratch_new(q8, 1, &s8, nullptr) != VDB_OK) {
        fprintf(stderr, "vdb int8 codes failed\n");
        return 1;
    }
    {
        Engine e;
        e.name = "vdb-int8";
        e.build_s = engines.back().build_s;
        e.mem = vdb_hnsw_memory(vindex) + vdb_quant_memory(q8);
        e.set_ef = [](size_t) {};
        e.one = [&](size_t ef, size_t i, std::vector<int32_t> *ids) {
            size_t got = 0;
            vdb_hnsw_codes c;
            if (vdb_quant_traversal(q8, q + i * dim, s8, &c, nullptr) == 0)
                vdb_hnsw_search_codes(vindex, &view, q + i * dim, &c, k, ef, nullptr, scratch,
                                      hits.data(), &got, nullptr);
            if (ids != nullptr) {
                ids->clear();
                for (size_t j = 0; j < got; j++)
                    ids->push_back((int32_t)hits[j].id);
            }
        };
        engines.push_back(e);
    }
#endif
    if (getenv("VDB_PEER_LOCK") != nullptr) {
        int fd = open(getenv("VDB_PEER_LOCK"), O_RDWR | O_CREAT, 0666);
        if (fd < 0 || flock(fd, LOCK_EX) != 0) {
            perror(getenv("VDB_PEER_LOCK"));
            return 1;
        }
        fprintf(stderr, "hnsw_native: builds done, %s held for the searches\n",
                getenv("VDB_PEER_LOCK"));
    }
    std::vector<std::vector<Point>> curves(engines.size());
    for (size_t ei = 0; ei < efs.size(); ei++) {
        std::vector<Timing> timing(engines.size());
        // Best of three passes per engine, the engines alternating pass by
        // pass (the machine is shared); one untimed warm-up pass each first.
        int repeats = getenv("VDB_PEER_REPEATS") ? atoi(getenv("VDB_PEER_REPEATS")) : 3;
        for (int rep = -1; rep < (repeats > 0 ? repeats : 3); rep++)
            for (size_t j = 0; j < engines.size(); j++) {
                engines[j].set_ef(efs[ei]);
                Timing warm;
                timed_pass(engines[j].one, efs[ei], nq, rep < 0 ? &warm : &timing[j]);
            }
        for (size_t j = 0; j < engines.size(); j++) {
            engines[j].set_ef(efs[ei]);
            curves[j].push_back(finish(engines[j].one, efs[ei], nq, k, gt, &timing[j]));
        }
    }
    printf("{\"n\": %zu, \"dim\": %zu, \"M\": %zu, \"ef_construction\": %zu, "
           "\"build_threads\": %d, \"engines\": [",
           n, dim, M, efc, threads);
    for (size_t j = 0; j < engines.size(); j++) {
        printf("%s{\"peer\": \"%s\", \"n\": %zu, \"build_seconds\": %.4f, "
               "\"build_vectors_per_s\": %.1f, "
               "\"rss_delta_bytes\": %ld, \"index_bytes\": %zu, \"curve\": ",
               j ? ", " : "", engines[j].name.c_str(), n, engines[j].build_s,
               (double)n / engines[j].build_s, engines[j].rss_delta, engines[j].mem);
        print_curve(curves[j]);
        printf("}");
    }
    printf("]}\n");
#ifdef VDB_INTERLEAVE
    vdb_quant_scratch_free(s8);
    vdb_quant_free(q8);
    vdb_hnsw_scratch_free(scratch);
    vdb_hnsw_free(vindex);
    std::free(rows);
#endif
    delete index;
    delete space;
    return 0;
}
