# vdb — plain Makefile. `make` builds build/vdb, `make test` runs every test,
# `make run` starts the server. SANITIZER=address,undefined builds a
# sanitized tree under build/san-... (see `make test-asan`).
#
# Sources are discovered by directory: every src/<module>/*.c except src/cli/
# goes into libvdb.a; src/cli/*.c make the vdb binary; every
# tests/unit/test_*.c becomes one test program.

# Dependencies are installed before this Makefile reads pkg-config: the
# outer make (VDB_DEPS_DONE unset) runs scripts/install-deps.sh once,
# serially, for the set the goals need, then re-runs make with the same goals
# and VDB_DEPS_DONE set. Only that inner make evaluates `pkg-config --libs`,
# so the first run on a bare machine links, and -jN never runs the compiler
# alongside the installer.
ifeq ($(VDB_DEPS_DONE),)

GOALS := $(MAKECMDGOALS)
DEPS_SET := runtime
ifneq ($(filter test%,$(GOALS)),)
  DEPS_SET := test
endif
ifneq ($(filter fuzz% soak,$(GOALS)),)
  DEPS_SET := test
endif
ifneq ($(filter bench%,$(GOALS)),)
  DEPS_SET := bench
endif
ifneq ($(filter test-fresh,$(GOALS)),)
  DEPS_SET := fresh
endif

.PHONY: vdb-deps-then-make $(GOALS)
vdb-deps-then-make:
ifeq ($(filter-out clean,$(GOALS)),)
ifneq ($(GOALS),)
	@$(MAKE) --no-print-directory VDB_DEPS_DONE=none $(GOALS)
else
	@bash scripts/install-deps.sh $(DEPS_SET)
	@$(MAKE) --no-print-directory VDB_DEPS_DONE=$(DEPS_SET)
endif
else
	@bash scripts/install-deps.sh $(DEPS_SET)
	@$(MAKE) --no-print-directory VDB_DEPS_DONE=$(DEPS_SET) $(GOALS)
endif
$(GOALS): vdb-deps-then-make
	@:

else

CC ?= cc
BUILD ?= build
PYTHON ?= /usr/bin/python3
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m)

PKGS := jansson libzip nettle zlib
WARN := -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
OPT ?= -O2 -g
VDB_VERSION := 0.1.0
CFLAGS_BASE := -std=c11 -DVDB_VERSION=\"$(VDB_VERSION)\" -D_GNU_SOURCE -pthread $(WARN) $(OPT) -fno-strict-aliasing
LDLIBS := -pthread -lm -lroaring

ifeq ($(UNAME_S),Darwin)
  CFLAGS_BASE := $(filter-out -D_GNU_SOURCE,$(CFLAGS_BASE)) -D_DARWIN_C_SOURCE -DVDB_USE_ACCELERATE
  BLAS_LIBS := -framework Accelerate
  BLAS_CFLAGS :=
else
  BLAS_CFLAGS := $(shell pkg-config --cflags openblas 2>/dev/null)
  BLAS_LIBS := $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

comma := ,
ifneq ($(SANITIZER),)
  SAN_FLAGS := -fsanitize=$(SANITIZER) -fno-omit-frame-pointer -fno-sanitize-recover=all
  ifeq ($(BUILD),build)
    BUILD := build/san-$(subst $(comma),-,$(SANITIZER))
  endif
endif
CFLAGS_ALL = $(CFLAGS_BASE) $(SAN_FLAGS) $(PKG_CFLAGS) $(BLAS_CFLAGS) $(CFLAGS)
LIBS_ALL = $(SAN_FLAGS) $(PKG_LIBS) $(BLAS_LIBS) $(LDLIBS) $(LDFLAGS)

LIB_SRC := $(sort $(filter-out src/cli/%,$(wildcard src/*/*.c)))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
TEST_SRC := $(sort $(wildcard tests/unit/test_*.c))
HEADERS := $(sort $(wildcard src/*/*.h))

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HDR_CHECK := $(HEADERS:%.h=$(BUILD)/hdr/%.ok)

# Per-ISA kernel files get their own flags (x86_64 only; elsewhere they are
# empty translation units).
ifeq ($(UNAME_M),x86_64)
$(BUILD)/obj/src/kernel/dist_avx2.o: ISA_FLAGS := -mavx2 -mfma
$(BUILD)/obj/src/kernel/dist_avx512.o: ISA_FLAGS := -mavx512f -mavx2 -mfma
$(BUILD)/obj/src/kernel/qdist_avx2.o: ISA_FLAGS := -mavx2 -mpopcnt
$(BUILD)/obj/src/kernel/qdist_avx512.o: ISA_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512vpopcntdq -mavx2 -mpopcnt
endif

.PHONY: all deps run test check-arch arch-doc test-fresh test-unit test-neon test-e2e test-e2e-asan test-asan test-tsan test-crash-long test-store-py test-tsan-store clean headers bench-peers bench-quant bench-recall bench-floatparse bench-store-exact bench-quant-graph bench-hnsw-io bench-float-bound bench-peers-data

all: $(BUILD)/vdb

# Installs every missing Debian package for the tests (no-op when all are
# present); `make` itself already ran the installer for its goals.
deps:
	@bash scripts/install-deps.sh test

# -MMD -MP: each object records the headers it really includes in a .d file
# next to it, so a header edit rebuilds only its users.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) $(ISA_FLAGS) -MMD -MP -c $< -o $@

# /docs assets (Swagger UI, ReDoc) from npm, embedded into the binary; an
# empty table when npm cannot fetch them (scripts/build-web-assets.sh).
WEB_OBJ := $(BUILD)/obj/web/docs_assets.o
# Rebuilt when npm comes or goes: the README's run command builds without
# it (runtime set), the test command then installs it and must not keep
# the run command's empty table (the bare-root test failed on /docs).
WEB_NPM := $(if $(shell command -v npm 2>/dev/null),with-npm,without-npm)
$(BUILD)/web/.$(WEB_NPM):
	@mkdir -p $(dir $@)
	@rm -f $(BUILD)/web/.with-npm $(BUILD)/web/.without-npm
	@touch $@
$(BUILD)/web/docs_assets.c: scripts/build-web-assets.sh $(BUILD)/web/.$(WEB_NPM)
	@bash scripts/build-web-assets.sh $(BUILD)/web && touch $@
$(WEB_OBJ): $(BUILD)/web/docs_assets.c src/api/webassets.h
	@mkdir -p $(dir $@)
	@$(CC) $(CFLAGS_ALL) -Isrc -c $< -o $@

$(BUILD)/libvdb.a: $(LIB_OBJ) $(WEB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/vdb: $(CLI_OBJ) $(BUILD)/libvdb.a
	$(CC) $(CLI_OBJ) $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a -lcmocka $(LIBS_ALL) -o $@

# Every header must compile on its own.
$(BUILD)/hdr/%.ok: %.h
	@mkdir -p $(dir $@)
	@printf '#include "%s"\n' "$(abspath $<)" | $(CC) $(CFLAGS_ALL) -MMD -MP -MF $@.d -MT $@ -x c -fsyntax-only - && touch $@

headers: $(HDR_CHECK)

run: all
	@bash scripts/run.sh $(BUILD)/vdb

test: check-arch all headers test-unit test-store-py test-neon test-e2e

# The layer check (docs/architecture.md): include floors, no circles between
# files or folders, no call circles, the allocator and I/O funnels, a README
# per folder, and a current drawing; plus the checker's own test (each rule
# fires on a tree built to break it). arch-doc redraws the drawing.
# hdr_check: every public int function's header comment names its error
# codes or says it never fails (docs/style.md "Headers"), plus its own test.
check-arch:
	$(PYTHON) scripts/arch_check.py
	$(PYTHON) tests/arch/test_arch_check.py
	$(PYTHON) scripts/hdr_check.py
	$(PYTHON) tests/arch/test_hdr_check.py

arch-doc:
	$(PYTHON) scripts/arch_check.py --write

# The kernel check (tests/kernel/dist_check.c) is plain C so the same source
# also runs under qemu for NEON; natively it checks every ISA this CPU has.
$(BUILD)/tests/dist_check: tests/kernel/dist_check.c $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

$(BUILD)/tests/qdist_check: tests/kernel/qdist_check.c $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

# UNIT_JOBS programs at a time (scripts/run-tests.sh keeps each one's output
# whole); the slowest start first so two lanes end together. `make
# test-asan` runs two at a time.
UNIT_JOBS ?= 1
# Measured under ASan in CI (2026-12-02, load 11): test_recall 1,069 s,
# test_store_repair 726 s, test_store_ckpt_crash 155 s, test_store_quant
# 130 s, test_store_hnsw 109 s, test_store 81 s; every other one < 40 s.
UNIT_SLOW := $(addprefix $(BUILD)/tests/,test_recall test_store_repair test_store_ckpt_crash \
             test_store_quant test_store_hnsw test_store test_httpparse test_store_powerloss \
             test_store_crash)
UNIT_ORDER := $(filter $(TEST_BIN),$(UNIT_SLOW)) $(filter-out $(UNIT_SLOW),$(TEST_BIN)) \
              $(BUILD)/tests/dist_check $(BUILD)/tests/qdist_check
test-unit: $(TEST_BIN) $(BUILD)/tests/dist_check $(BUILD)/tests/qdist_check $(BUILD)/vdb
	@JOBS=$(UNIT_JOBS) bash scripts/run-tests.sh $(UNIT_ORDER)

# The NEON kernels, cross-built for AArch64 and run under qemu-user.
NEON_SRC := src/kernel/dist.c src/kernel/dist_scalar.c src/kernel/dist_neon.c src/core/cpu.c \
            src/core/err.c src/core/alloc.c tests/kernel/dist_check.c
QNEON_SRC := src/kernel/qdist.c src/kernel/qdist_scalar.c src/kernel/qdist_neon.c src/core/cpu.c \
             tests/kernel/qdist_check.c
test-neon:
ifeq ($(UNAME_M),x86_64)
	@mkdir -p $(BUILD)/neon
	aarch64-linux-gnu-gcc -std=c11 -D_GNU_SOURCE -pthread $(WARN) -O2 -static $(NEON_SRC) -lm -o $(BUILD)/neon/dist_check
	qemu-aarch64 $(BUILD)/neon/dist_check neon
	aarch64-linux-gnu-gcc -std=c11 -D_GNU_SOURCE -pthread $(WARN) -O2 -static $(QNEON_SRC) -lm -o $(BUILD)/neon/qdist_check
	qemu-aarch64 $(BUILD)/neon/qdist_check neon-dot scalar
else
	@echo "test-neon: native build covers this architecture's kernels"
endif

test-e2e: $(BUILD)/vdb
	@if ls tests/e2e/test_*.py >/dev/null 2>&1; then \
	  VDB_BIN=$(abspath $(BUILD)/vdb) $(PYTHON) -m pytest -q tests/e2e; \
	else echo "test-e2e: no end-to-end tests yet"; fi

# numpy (Debian's python3-numpy) reads a store's vectors.npz and
# metadata.jsonl and gets what was added.
test-store-py: $(BUILD)/vdb
	$(PYTHON) tests/store/test_npz_numpy.py $(BUILD)/vdb

# The durable store's concurrent tests (group commit, readers + writers +
# checkpoints) under ThreadSanitizer, in its own tree.
# test_store_repair's two tests where optimize, compaction marks and the
# background calibration meet (its data-family tests take ~7 min each under
# TSan; a lock-order inversion there was found by running them all once).
test-tsan-store:
	$(MAKE) SANITIZER=thread OPT="-O1 -g" BUILD=$(BUILD)/san-thread $(BUILD)/san-thread/tests/test_store $(BUILD)/san-thread/tests/test_wal $(BUILD)/san-thread/tests/test_store_repair
	$(BUILD)/san-thread/tests/test_wal
	$(BUILD)/san-thread/tests/test_store
	VDB_TEST_FILTER=test_repair_scans_at_target $(BUILD)/san-thread/tests/test_store_repair
	VDB_TEST_FILTER=test_modes $(BUILD)/san-thread/tests/test_store_repair

# The kill -9 crash test for thousands of cycles (make test runs 50).
test-crash-long: $(BUILD)/tests/test_store_crash
	VDB_CRASH_ITERS=3000 $(BUILD)/tests/test_store_crash

# The end-to-end suite against an ASan+UBSan build of the server (a leak
# or a sanitizer report makes `vdb serve` exit nonzero, which fails a test).
test-e2e-asan:
	$(MAKE) SANITIZER=address,undefined OPT="-O1 -g" test-e2e

# The README's run and test commands (the whole suite) on a bare Debian 12
# root built with mmdebstrap, first time, with -j2 (tests/fresh/run.sh;
# needs root and Debian's mirror, skipped with a message otherwise).
# .ci/run runs it (the whole suite). FRESH_TESTS=unit runs only the unit tier
# there, a quicker local check; FRESH_KEEP=1 keeps the root to look into.
test-fresh:
	bash tests/fresh/run.sh

# The unit suite under AddressSanitizer + UndefinedBehaviorSanitizer, two
# programs at a time (ASAN_JOBS).
ASAN_JOBS ?= 2
test-asan:
	$(MAKE) SANITIZER=address,undefined OPT="-O1 -g" UNIT_JOBS=$(ASAN_JOBS) test-unit

# HNSW's concurrent search + insert test (and the rest of its suite) and
# the thread pool's tests (test_core) under ThreadSanitizer, in its own tree.
test-tsan:
	$(MAKE) SANITIZER=thread OPT="-O1 -g" BUILD=$(BUILD)/san-thread $(BUILD)/san-thread/tests/test_hnsw $(BUILD)/san-thread/tests/test_core
	$(BUILD)/san-thread/tests/test_hnsw
	$(BUILD)/san-thread/tests/test_core

# Native HNSW peers (hnswlib 0.8.0, USearch; fetched by npm into the ignored
# bench/.peers) against vdb on the same data, one process, alternating
# passes. BENCH_PEERS_ARGS picks the data set (see BENCHMARKS.md).
BENCH_PEERS_DIR ?= $(BUILD)/bench-peers-data
BENCH_PEERS_ARGS ?= --n 100000 --dim 384 --queries 1000
bench-peers-data: all
	bash bench/fetch-peers.sh
	@mkdir -p $(BENCH_PEERS_DIR)
	@test -f $(BENCH_PEERS_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --save $(BENCH_PEERS_DIR) --json >/dev/null
bench-peers: bench-peers-data
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
	  $(PYTHON) bench/peers_hnsw.py $(BENCH_PEERS_DIR) --vdb $(BUILD)/vdb --skip vdb,hnswlib-debian,faiss $(BENCH_PEERS_EXTRA)

# What bounds the float HNSW search against hnswlib 0.8.0 (issue 13): CPU-time
# A/B in chunks, hot vs cold queries (bench/hnsw_float_bound.cpp); graphs are
# cached in BENCH_PEERS_DIR. FLOAT_BOUND_ARGS: METRIC EFS [ROUNDS], MODE=hot.
PEERS_HNSWLIB := bench/.peers/node_modules/hnswlib-node/src
$(BUILD)/hnsw_float_bound: bench/hnsw_float_bound.cpp $(BUILD)/libvdb.a
	bash bench/fetch-peers.sh
	g++ -O3 -march=native -std=c++17 -pthread -I$(PEERS_HNSWLIB) -Isrc $< -o $@ $(BUILD)/libvdb.a $(LIBS_ALL)
FLOAT_BOUND_ARGS ?= cosine 16,24,48 9
bench-float-bound: bench-peers-data $(BUILD)/hnsw_float_bound
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
	  $(BUILD)/hnsw_float_bound $(BENCH_PEERS_DIR) $(FLOAT_BOUND_ARGS)

# Exact search on int8 / binary codes + re-rank against the float scan
# (bench/quant_scan.c); QUANT_DIR holds `vdb bench --save` files.
$(BUILD)/quant_scan: bench/quant_scan.c $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
QUANT_DIR ?= $(BUILD)/bench-quant-data
QUANT_METRIC ?= cosine
bench-quant: all $(BUILD)/quant_scan
	@mkdir -p $(QUANT_DIR)
	@test -f $(QUANT_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --metric $(QUANT_METRIC) --save $(QUANT_DIR) --json >/dev/null
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/quant_scan $(QUANT_DIR) $(QUANT_METRIC) $(QUANT_ARGS)

# The declared recall target per data family (bench/recall_planner.c):
# held-out recall and single-thread QPS at targets 1.0 (exact) .. 0.90.
$(BUILD)/recall_planner: bench/recall_planner.c tests/unit/families.h $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
BENCH_RECALL_ARGS ?= --n 100000 --queries 1000
bench-recall: all $(BUILD)/recall_planner
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/recall_planner $(BENCH_RECALL_ARGS)

# JSON float-matrix parse rate alone (bench/floatparse_bench.c, issue 12).
$(BUILD)/floatparse_bench: bench/floatparse_bench.c bench/bench_util.h $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
bench-floatparse: $(BUILD)/floatparse_bench
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/floatparse_bench

# hnsw.idx save and load alone (bench/hnsw_io.c, issue 10's format 2).
$(BUILD)/hnsw_io: bench/hnsw_io.c bench/bench_util.h $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
bench-hnsw-io: $(BUILD)/hnsw_io
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/hnsw_io $(HNSW_IO_ARGS)

# Exact queries of one store with quantization none / int8 / binary through
# the store API (bench/store_exact.c); same data files as bench-quant.
$(BUILD)/store_exact: bench/store_exact.c bench/bench_util.h $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
bench-store-exact: all $(BUILD)/store_exact
	@mkdir -p $(QUANT_DIR)
	@test -f $(QUANT_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --metric $(QUANT_METRIC) --save $(QUANT_DIR) --json >/dev/null
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/store_exact $(QUANT_DIR) $(QUANT_METRIC) $(STORE_EXACT_ARGS)

# HNSW traversal on int8 codes vs on float rows, one graph (bench/quant_graph.c).
$(BUILD)/quant_graph: bench/quant_graph.c bench/bench_util.h $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
bench-quant-graph: all $(BUILD)/quant_graph
	@mkdir -p $(QUANT_DIR)
	@test -f $(QUANT_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --metric $(QUANT_METRIC) --save $(QUANT_DIR) --json >/dev/null
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/quant_graph $(QUANT_DIR) $(QUANT_METRIC) $(QUANT_GRAPH_ARGS)

# HNSW on a store where many rows are copies of one vector (bench/hnsw_copies.c).
$(BUILD)/hnsw_copies: bench/hnsw_copies.c $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

# Inner product on a graph: dot-metric HNSW vs the MIPS-to-L2 reduction
# (bench/mips_reduction.c).
$(BUILD)/mips_reduction: bench/mips_reduction.c $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc -MMD -MP -MF $@.d $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

# HTTP availability under attack (docs/server.md "HTTP layer"): 1,500 idle,
# slowloris and slow-body connections (slowhttptest when installed) while a
# normal client measures; fails on any error or p99 >= 100 ms.
test-attack: $(BUILD)/vdb
	VDB_BIN=$(abspath $(BUILD)/vdb) $(PYTHON) tests/e2e/attack.py $${ATTACK_SECONDS:-60}

clean:
	rm -rf build

# ---- fuzzing, TSan in CI, load/abuse (tests/fuzz, tests/load; docs/reliability.md) ----
#
# tests/fuzz/fuzz_<name>.c are libFuzzer harnesses for every hostile-input
# parser. `make fuzz` builds them with clang (-fsanitize=fuzzer,address,
# undefined) against a clang-built libvdb in build/fuzz/, generates each seed
# corpus with the library's own writers (replay --seeds) and runs each
# harness FUZZ_SECONDS (default 60), FUZZ_JOBS at a time; any crash fails
# the target and leaves the input in build/fuzz/out/<name>/. Crash inputs,
# once fixed, go to
# tests/fuzz/regress/<name>/, which `make test` replays through plain-C
# drivers built by the normal compiler (test-fuzz-regress).
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out tests/fuzz/fuzz_common.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_BUILD := build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_LONG_SECONDS ?= 1800
# Harnesses run at once, each pinned to its own core (tests/fuzz/run.sh);
# .ci/run uses 2 so 9 harnesses x 60 s take 5 minutes on 2 cores.
FUZZ_JOBS ?= 1
FUZZ_CC ?= clang
FUZZ_COMMON := tests/fuzz/fuzz_common.c
FUZZ_DEPS := $(FUZZ_COMMON) tests/fuzz/fuzz_common.h
REPLAY_BIN := $(FUZZ_NAMES:%=$(BUILD)/fuzz-replay/%)

.PHONY: fuzz fuzz-lib fuzz-long fuzz-build fuzz-seeds test-fuzz-regress test-asan-fuzz-regress test-ci-tsan test-load soak

$(BUILD)/fuzz-replay/%: tests/fuzz/fuzz_%.c tests/fuzz/replay.c $(FUZZ_DEPS) $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc $< tests/fuzz/replay.c $(FUZZ_COMMON) $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

# Replays every regression input (and the generated seeds) through each harness.
test-fuzz-regress: $(REPLAY_BIN)
	@set -e; for n in $(FUZZ_NAMES); do \
	  d=$(BUILD)/fuzz-replay/seeds-$$n; rm -rf $$d; $(BUILD)/fuzz-replay/$$n --seeds $$d; \
	  if [ -d tests/fuzz/regress/$$n ]; then $(BUILD)/fuzz-replay/$$n $$d tests/fuzz/regress/$$n; \
	  else $(BUILD)/fuzz-replay/$$n $$d; fi; done

test: test-fuzz-regress

# The clang-built library, by a sub-make with BUILD=$(FUZZ_BUILD) (its own
# $(BUILD)/libvdb.a rule builds it there).
fuzz-lib:
	$(MAKE) CC=$(FUZZ_CC) BUILD=$(FUZZ_BUILD) SANITIZER=address,undefined OPT="-O1 -g" \
	  CFLAGS="-fsanitize=fuzzer-no-link" $(FUZZ_BUILD)/libvdb.a

$(FUZZ_BUILD)/bin/%: tests/fuzz/fuzz_%.c tests/fuzz/libfuzzer_main.c $(FUZZ_DEPS) $(FUZZ_BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CFLAGS_BASE) -Wno-error=unused-command-line-argument -O1 -g \
	  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	  $(PKG_CFLAGS) $(BLAS_CFLAGS) -Isrc $< tests/fuzz/libfuzzer_main.c $(FUZZ_COMMON) \
	  $(FUZZ_BUILD)/libvdb.a $(PKG_LIBS) $(BLAS_LIBS) $(LDLIBS) -o $@

fuzz-build: fuzz-lib
	$(MAKE) $(FUZZ_NAMES:%=$(FUZZ_BUILD)/bin/%) $(REPLAY_BIN)

# Seeds come from the plain replay drivers (the library's writers).
fuzz-seeds: $(REPLAY_BIN)
	@set -e; mkdir -p $(FUZZ_BUILD)/seeds; for n in $(FUZZ_NAMES); do rm -rf $(FUZZ_BUILD)/seeds/$$n; \
	  $(BUILD)/fuzz-replay/$$n --seeds $(FUZZ_BUILD)/seeds/$$n; done

fuzz: fuzz-build fuzz-seeds
	@FUZZ_JOBS=$(FUZZ_JOBS) bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-long: fuzz-build fuzz-seeds
	@FUZZ_JOBS=$(FUZZ_JOBS) bash tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_LONG_SECONDS) $(FUZZ_NAMES)

# The regression inputs under ASan+UBSan too (part of make test-asan).
test-asan-fuzz-regress:
	$(MAKE) SANITIZER=address,undefined OPT="-O1 -g" test-fuzz-regress
test-asan: test-asan-fuzz-regress

# CI's concurrency tier: HNSW search+insert and the store's group commit /
# readers+writers+checkpoints under ThreadSanitizer (.ci/run calls this).
test-ci-tsan: test-tsan test-tsan-store

# Load + abuse (tests/load/load_abuse.py): mixed add/query on 4 stores from
# 127.0.0.1 while 127.0.0.2 holds idle, slow-header and slow-body
# connections; asserts 0 client errors, p99, fds/threads back to baseline,
# RSS cap, and every acknowledged vector after kill -9 + restart.
# test-load is CI's 2-minute run; soak the 30-minute one. LOAD_ARGS adds
# flags, e.g. LOAD_ARGS="--idle 1500 --p99-ms 100".
LOAD_ARGS ?=
test-load: $(BUILD)/vdb
	$(PYTHON) tests/load/load_abuse.py $(BUILD)/vdb --duration 120 $(LOAD_ARGS)

soak: $(BUILD)/vdb
	$(PYTHON) tests/load/load_abuse.py $(BUILD)/vdb --duration 1800 --rss-mb 1024 $(LOAD_ARGS)

-include $(wildcard $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_BIN:=.d) $(HDR_CHECK:=.d) $(BUILD)/tests/dist_check.d $(BUILD)/tests/qdist_check.d $(BUILD)/quant_scan.d $(BUILD)/floatparse_bench.d $(BUILD)/store_exact.d $(BUILD)/quant_graph.d $(BUILD)/mips_reduction.d $(BUILD)/hnsw_copies.d)

endif
