#!/usr/bin/env bash
# Run kevolve's GPU tests on a GPU machine within one ten-minute call and print a short table
# last. Results (junit XML, logs, summary.json) go to $OUT.
#   bash evals/device_setup.sh && bash evals/device_gpu_tests.sh [GROUP ...]
# Groups (default: integrity families), run side by side, each its own pytest:
#   integrity  timing integrity, then the evaluator, the few-shot CUDA kernel and `kevolve
#              optimize` (one at a time: ~50 s per evaluation test on an H100)
#   families   the generator families' GPU tests (three pytest workers)
#   memory     memory admission, the per-GPU ledger and the measured ceilings (needs the GPU
#              to itself: run it in a call of its own or last)
# Every timed section takes the GPU's timing lock, so groups side by side do not skew each
# other's timings. A group past LIMIT_S seconds (default 500) gets SIGINT, so pytest still
# writes its report and XML; -v names each test as it ends.
set -uo pipefail
OUT=${OUT:-/tmp/kevolve-gpu-tests}
mkdir -p "$OUT"
PYTEST=(python3 -m pytest -v -rA -p no:cacheprovider -o addopts=--strict-markers -m gpu --timeout 280)
declare -A FILES WORKERS
FILES[integrity]="tests/gpu/test_timing_integrity_gpu.py tests/gpu/test_evaluator_gpu.py tests/gpu/test_fewshot_gpu.py tests/gpu/test_optimize_gpu.py"
FILES[families]="tests/gpu/test_gather_chain_gpu.py tests/gpu/test_libop_gpu.py tests/gpu/test_long_rows_gpu.py tests/gpu/test_inductor_export_gpu.py tests/gpu/test_libgemm_rows_gpu.py tests/gpu/test_export_triton_gpu.py"
FILES[memory]="tests/gpu/test_evaluator_memory_gpu.py tests/gpu/test_evaluator_per_gpu_gpu.py tests/gpu/test_ceilings_gpu.py"
WORKERS=([integrity]=0 [families]=3 [memory]=0)
GROUPS_RUN=("$@")
[ ${#GROUPS_RUN[@]} -gt 0 ] || GROUPS_RUN=(integrity families)
for group in "${GROUPS_RUN[@]}"; do
    [ -n "${FILES[$group]:-}" ] || { echo "unknown group $group: use integrity, families or memory" >&2; exit 2; }
    # shellcheck disable=SC2086  # the file list is meant to split
    timeout -s INT "${LIMIT_S:-500}" "${PYTEST[@]}" -n "${WORKERS[$group]}" \
        --junitxml "$OUT/$group.xml" ${FILES[$group]} >"$OUT/$group.log" 2>&1 &
done
wait
xml=()
for group in "${GROUPS_RUN[@]}"; do xml+=("$OUT/$group.xml"); done
python3 evals/junit_table.py "${xml[@]}" --json "$OUT/summary.json"
