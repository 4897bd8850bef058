# vdb — plain Makefile. `make` builds build/vdb, `make test` runs every test,
# `make run` starts the server. SANITIZER=address,undefined builds a
# sanitized tree under build/san-... (see `make test-asan`).
#
# Sources are discovered by directory: every src/<module>/*.c except src/cli/
# goes into libvdb.a; src/cli/*.c make the vdb binary; every
# tests/unit/test_*.c becomes one test program.

CC ?= cc
BUILD ?= build
PYTHON ?= /usr/bin/python3
UNAME_S := $(shell uname -s)
UNAME_M := $(shell uname -m)

PKGS := libmicrohttpd jansson libzip nettle zlib
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

.PHONY: all deps run test test-unit test-neon test-e2e test-e2e-asan test-asan test-tsan test-crash-long test-store-py test-tsan-store clean headers bench-peers bench-quant

all: deps $(BUILD)/vdb

# Installs missing Debian packages (no-op when all are present).
deps:
	@bash scripts/install-deps.sh

$(BUILD)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_ALL) $(ISA_FLAGS) -c $< -o $@

$(BUILD)/libvdb.a: $(LIB_OBJ)
	@rm -f $@
	@ar rcs $@ $^

$(BUILD)/vdb: $(CLI_OBJ) $(BUILD)/libvdb.a
	$(CC) $(CLI_OBJ) $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libvdb.a $(wildcard tests/unit/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc $< $(BUILD)/libvdb.a -lcmocka $(LIBS_ALL) -o $@

# Every header must compile on its own.
$(BUILD)/hdr/%.ok: %.h
	@mkdir -p $(dir $@)
	@printf '#include "%s"\n' "$(abspath $<)" | $(CC) $(CFLAGS_ALL) -x c -fsyntax-only - && touch $@

headers: $(HDR_CHECK)

run: all
	@bash scripts/run.sh $(BUILD)/vdb

test: all headers test-unit test-store-py test-neon test-e2e

# The kernel check (tests/kernel/dist_check.c) is plain C so the same source
# also runs under qemu for NEON; natively it checks every ISA this CPU has.
$(BUILD)/tests/dist_check: tests/kernel/dist_check.c $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

$(BUILD)/tests/qdist_check: tests/kernel/qdist_check.c $(BUILD)/libvdb.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -Isrc $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@

test-unit: $(TEST_BIN) $(BUILD)/tests/dist_check $(BUILD)/tests/qdist_check $(BUILD)/vdb
	@set -e; for t in $(BUILD)/tests/dist_check $(BUILD)/tests/qdist_check $(TEST_BIN); do echo "== $$t"; $$t; done

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
test-tsan-store:
	$(MAKE) SANITIZER=thread OPT="-O1 -g" BUILD=$(BUILD)/san-thread $(BUILD)/san-thread/tests/test_store $(BUILD)/san-thread/tests/test_wal
	$(BUILD)/san-thread/tests/test_wal
	$(BUILD)/san-thread/tests/test_store

# The kill -9 crash test for thousands of cycles (make test runs 50).
test-crash-long: $(BUILD)/tests/test_store_crash
	VDB_CRASH_ITERS=3000 $(BUILD)/tests/test_store_crash

# The end-to-end suite against an ASan+UBSan build of the server (a leak
# or a sanitizer report makes `vdb serve` exit nonzero, which fails a test).
test-e2e-asan:
	$(MAKE) SANITIZER=address,undefined OPT="-O1 -g" test-e2e

# The unit suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan:
	$(MAKE) SANITIZER=address,undefined OPT="-O1 -g" test-unit

# HNSW's concurrent search + insert test (and the rest of its suite) under
# ThreadSanitizer, in its own tree.
test-tsan:
	$(MAKE) SANITIZER=thread OPT="-O1 -g" BUILD=$(BUILD)/san-thread $(BUILD)/san-thread/tests/test_hnsw
	$(BUILD)/san-thread/tests/test_hnsw

# Native HNSW peers (hnswlib 0.8.0, USearch; fetched by npm into the ignored
# bench/.peers) against vdb on the same data, one process, alternating
# passes. BENCH_PEERS_ARGS picks the data set (see BENCHMARKS.md).
BENCH_PEERS_DIR ?= $(BUILD)/bench-peers-data
BENCH_PEERS_ARGS ?= --n 100000 --dim 384 --queries 1000
bench-peers: all
	bash bench/fetch-peers.sh
	@mkdir -p $(BENCH_PEERS_DIR)
	@test -f $(BENCH_PEERS_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --save $(BENCH_PEERS_DIR) --json >/dev/null
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
	  $(PYTHON) bench/peers_hnsw.py $(BENCH_PEERS_DIR) --vdb $(BUILD)/vdb --skip vdb,hnswlib-debian,faiss $(BENCH_PEERS_EXTRA)

# Exact search on int8 / binary codes + re-rank against the float scan
# (bench/quant_scan.c); QUANT_DIR holds `vdb bench --save` files.
$(BUILD)/quant_scan: bench/quant_scan.c $(BUILD)/libvdb.a
	$(CC) $(CFLAGS_ALL) -Isrc $< $(BUILD)/libvdb.a $(LIBS_ALL) -o $@
QUANT_DIR ?= $(BUILD)/bench-quant-data
QUANT_METRIC ?= cosine
bench-quant: all $(BUILD)/quant_scan
	@mkdir -p $(QUANT_DIR)
	@test -f $(QUANT_DIR)/truth.npy || $(BUILD)/vdb bench $(BENCH_PEERS_ARGS) --metric $(QUANT_METRIC) --save $(QUANT_DIR) --json >/dev/null
	flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BUILD)/quant_scan $(QUANT_DIR) $(QUANT_METRIC) $(QUANT_ARGS)

clean:
	rm -rf build
