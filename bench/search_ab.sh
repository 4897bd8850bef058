#!/usr/bin/env bash
# Builds bench/search_ab.c (see its top): this tree's libvdb.a against a base
# commit's HNSW search, quantizer and quantized kernels, renamed BASE_... so
# both link into one binary. Needs the tree built (make all), git, nm and
# objcopy (binutils, with gcc).
#
# Usage: bash bench/search_ab.sh BASE_REF [BUILD_DIR]   (prints the binary)
# Then, under the benchmark lock:
#   GRAPH=/tmp/f384.graph flock /tmp/vdb-bench.lock env -u OPENBLAS_CORETYPE \
#     -u OPENBLAS_L2_SIZE build/search-ab/search_ab /tmp/f384 cosine 24 20 01
# (the graph file: bench/quant_graph.c's GRAPH=, built once for the data).
set -euo pipefail
base=${1:?usage: bash bench/search_ab.sh BASE_REF [BUILD_DIR]}
root=$(git rev-parse --show-toplevel)
out=${2:-$root/build/search-ab}
lib=$root/build/libvdb.a
[ -f "$lib" ] || { echo "search_ab.sh: $lib missing: run make all first" >&2; exit 1; }
rm -rf "$out/base" "$out/obj"
mkdir -p "$out/base" "$out/obj"
git -C "$root" archive "$base" src | tar -x -C "$out/base"
cflags=(-std=c11 -D_GNU_SOURCE -pthread -O2 -g -fno-strict-aliasing -I"$out/base/src")
compile() { # source, object, extra flags
    local src=$1 obj=$2
    shift 2
    [ -f "$out/base/$src" ] && cc "${cflags[@]}" "$@" -c "$out/base/$src" -o "$out/obj/$obj"
    return 0
}
for f in hnsw_search hnsw quant quant_exact; do compile "src/index/$f.c" "$f.o"; done
compile src/kernel/qdist.c qdist.o
compile src/kernel/qdist_scalar.c qdist_scalar.o
if [ "$(uname -m)" = x86_64 ]; then
    compile src/kernel/qdist_avx2.c qdist_avx2.o -mavx2 -mpopcnt
    compile src/kernel/qdist_avx512.c qdist_avx512.o -mavx512f -mavx512bw -mavx512vl \
        -mavx512vnni -mavx512vpopcntdq -mavx2 -mpopcnt
else
    compile src/kernel/qdist_neon.c qdist_neon.o # its target pragma enables SDOT
fi
# Every symbol the base objects define, renamed in all of them (their calls
# to each other follow); what they only use resolves to this tree's library.
renames=()
for s in $(nm --defined-only -g "$out"/obj/*.o | awk 'NF == 3 { print $3 }' | sort -u); do
    renames+=(--redefine-sym "$s=BASE_$s")
done
for o in "$out"/obj/*.o; do objcopy "${renames[@]}" "$o"; done
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -pthread -O2 -g -I"$root/src" -I"$root/bench" \
    "$root/bench/search_ab.c" "$out"/obj/*.o "$lib" \
    $(pkg-config --libs jansson libzip nettle) $(pkg-config --libs openblas 2>/dev/null || echo -lopenblas) \
    -lroaring -lz -lm -o "$out/search_ab"
echo "$out/search_ab"
