#!/bin/sh
# Runs a libFuzzer target for a bounded time on a fresh copy of its seed
# corpus, so that what it discovers never lands in the source tree.
# usage: run-fuzzer.sh FUZZER SEED_CORPUS WORK_DIR SECONDS
set -eu
fuzzer=$1
seeds=$2
work=$3
seconds=$4

rm -rf "$work"
mkdir -p "$work/corpus" "$work/artifacts"
cp "$seeds"/* "$work/corpus/"

# -error_exitcode: libFuzzer's default for a crash is 77, which meson reads
# as a skipped test.
exec "$fuzzer" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
  -error_exitcode=1 \
  -print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus"
