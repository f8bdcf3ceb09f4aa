#!/usr/bin/env bash
# run.sh [SECONDS] — build every libFuzzer target of test/fuzz and run each for
# SECONDS (default 60) on a scratch copy of its seed corpus, so the repository
# is never modified. Targets build and run FUZZ_JOBS at a time (default: the
# number of cores), each on one core for its full SECONDS. Exits non-zero if any target fails to build or finds a
# crash, leak, sanitizer report or broken contract; the reproducer is kept
# and its path printed.
#
# Needs clang++ with libFuzzer (Debian: clang-14 and libclang-rt-14-dev) and
# libjansson-dev. CXX overrides the compiler.
set -eu
JOBS=${FUZZ_JOBS:-$(nproc)}

SECONDS_EACH=${1:-60}
case $SECONDS_EACH in
    ''|*[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
if [ -z "${CXX:-}" ]; then
    if command -v clang++-14 >/dev/null 2>&1; then CXX=clang++-14; else CXX=clang++; fi
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gcalsync-fuzz.XXXXXX")
echo "fuzz: building in $WORK with $CXX"

SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
FLAGS="-std=c++17 -g -O1 -Wall -Wextra -Wno-unused-parameter -I$ROOT/src -I$HERE"

# src/core once, instrumented for coverage, then one binary per target.
mkdir -p "$WORK/obj"
for src in "$ROOT"/src/core/*.cpp; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    $CXX $FLAGS $SAN -fsanitize=fuzzer-no-link -D_GNU_SOURCE \
        -c "$src" -o "$WORK/obj/$(basename "$src" .cpp).o" &
done
wait
for src in "$ROOT"/src/core/*.cpp; do
    [ -f "$WORK/obj/$(basename "$src" .cpp).o" ] || { echo "fuzz: $src does not build" >&2; exit 1; }
done

# fuzz_one NAME builds and runs one target; its verdict goes to $WORK/NAME.verdict.
fuzz_one() {
    local name=$1 src="$HERE/fuzz_$1.cpp"
    if ! $CXX $FLAGS -Werror $SAN -fsanitize=fuzzer "$src" "$WORK"/obj/*.o -ljansson -lcurl -lcrypto -lz -lical \
        -o "$WORK/fuzz_$name" >"$WORK/$name.build.log" 2>&1; then
        cat "$WORK/$name.build.log"
        echo "$name(build)" >"$WORK/$name.verdict"
        return
    fi
    local corpus="$WORK/corpus/$name"
    mkdir -p "$corpus" "$WORK/artifacts/$name"
    if [ -d "$HERE/corpus/$name" ]; then
        cp "$HERE/corpus/$name"/* "$corpus"/
    fi
    echo "fuzz: $name for ${SECONDS_EACH}s"
    if ! "$WORK/fuzz_$name" -max_total_time="$SECONDS_EACH" -max_len=65536 -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -dict="$HERE/json.dict" \
        -artifact_prefix="$WORK/artifacts/$name/" "$corpus" >"$WORK/$name.log" 2>&1; then
        tail -n 40 "$WORK/$name.log"
        echo "fuzz: $name FAILED; reproducer(s): $(ls "$WORK/artifacts/$name")" >&2
        echo "$name" >"$WORK/$name.verdict"
        return
    fi
    local execs speed cov
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$name.log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$name.log")
    cov=$(grep -o 'cov: [0-9]*' "$WORK/$name.log" | tail -n 1)
    echo "fuzz: $name ok: $execs runs, $speed exec/s, $cov"
    : >"$WORK/$name.verdict"
}

names=()
for src in "$HERE"/fuzz_*.cpp; do
    name=$(basename "$src" .cpp)
    names+=("${name#fuzz_}")
done
for name in "${names[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n || true; done
    fuzz_one "$name" &
done
wait
failed=""
for name in "${names[@]}"; do
    if [ ! -f "$WORK/$name.verdict" ]; then
        failed="$failed $name(no verdict)"
    elif [ -s "$WORK/$name.verdict" ]; then
        failed="$failed $(cat "$WORK/$name.verdict")"
    fi
done

if [ -n "$failed" ]; then
    echo "fuzz: FAILED:$failed (logs and artifacts in $WORK)" >&2
    exit 1
fi
rm -rf "$WORK"
echo "fuzz: all targets passed"
