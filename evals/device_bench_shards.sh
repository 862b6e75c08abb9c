#!/usr/bin/env bash
# Run `kevolve bench` over a sample of problems as shards side by side on one GPU, merge the
# shards into one bench.json and print the Markdown table last.
#   SHARDS=10 LIMIT=90 DEADLINE=350 BUDGET=8 [EXTRA="--max-mb 1"] bash evals/device_bench_shards.sh SUITE SAMPLE_FILE
# SUITE is what `kevolve bench` takes (a KernelBench checkout's KernelBench/ folder, a level
# folder, or a suite name); SAMPLE_FILE lists one problem file per line as `--only` matches
# them (level1/19_ReLU.py, or 001_hashed_embedding_bag.py). The shards share one data dir, so
# their timed sections share the GPU's timing lock and their evaluations the memory ledger.
# Writes $OUT/bench.json, $OUT/table.md and $OUT/logs.tar.gz.
set -uo pipefail
SUITE=$1
SAMPLE=$2
OUT=${OUT:-/tmp/kevolve-bench}
WORK=${WORK:-/tmp/kevolve-bench-work}
SHARDS=${SHARDS:-8}
mkdir -p "$OUT" "$WORK"
mapfile -t FILES < <(grep -v '^[[:space:]]*$' "$SAMPLE")
COMMON=(--target "${TARGET:-h100}" --budget "${BUDGET:-8}" --time-limit "${LIMIT:-90}"
        --deadline "${DEADLINE:-350}" --no-knowledge --data-dir "$WORK/data" ${EXTRA:-})
for ((k = 0; k < SHARDS && k < ${#FILES[@]}; k++)); do
    only=""
    for ((i = k; i < ${#FILES[@]}; i += SHARDS)); do only+="${only:+,}${FILES[i]}"; done
    kevolve bench "$SUITE" "${COMMON[@]}" --only "$only" --out "$WORK/shard_$k" \
        >"$WORK/shard_$k.log" 2>&1 &
done
wait
merge=()
for ((k = 1; k < SHARDS; k++)); do
    [ -f "$WORK/shard_$k/bench.json" ] && merge+=(--merge "$WORK/shard_$k")
done
rm -rf "$WORK/merged" && cp -r "$WORK/shard_0" "$WORK/merged"
kevolve bench "$SUITE" "${COMMON[@]}" --out "$WORK/merged" "${merge[@]}" --markdown \
    >"$OUT/table.md" 2>"$WORK/merge.log"
cp "$WORK/merged/bench.json" "$OUT/bench.json"
(cd "$WORK" && tar -czf "$OUT/logs.tar.gz" shard_*.log merge.log)
cat "$OUT/table.md"
