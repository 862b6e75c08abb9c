#!/usr/bin/env bash
# Run every GPU test of kevolve on a GPU machine within one ten-minute call, in three phases,
# and print a short table last. Results (junit XML, logs, summary.json) go to $OUT.
#   bash evals/device_setup.sh && bash evals/device_gpu_tests.sh
# Phase 1 (one at a time): timing integrity, the evaluator and `kevolve optimize`.
# Phase 2 (three pytest workers, beside phase 1): the generator families' GPU tests; every
#   timed section takes the GPU's timing lock, so side-by-side runs do not skew each other.
# Phase 3 (alone): memory admission, the per-GPU ledger and the measured ceilings.
# A phase past its limit gets SIGINT, so pytest still writes its report and XML; -v names each
# test as it ends.
set -uo pipefail
OUT=${OUT:-/tmp/kevolve-gpu-tests}
mkdir -p "$OUT"
PYTEST=(python3 -m pytest -v -rA -p no:cacheprovider -o addopts=--strict-markers -m gpu --timeout 280)
timeout -s INT "${PHASE12_S:-290}" "${PYTEST[@]}" -n 0 --junitxml "$OUT/phase1.xml" \
    tests/gpu/test_timing_integrity_gpu.py tests/gpu/test_evaluator_gpu.py \
    tests/gpu/test_optimize_gpu.py >"$OUT/phase1.log" 2>&1 &
timeout -s INT "${PHASE12_S:-290}" "${PYTEST[@]}" -n 3 --junitxml "$OUT/phase2.xml" \
    tests/gpu/test_gather_chain_gpu.py tests/gpu/test_libop_gpu.py tests/gpu/test_long_rows_gpu.py \
    tests/gpu/test_inductor_export_gpu.py tests/gpu/test_libgemm_rows_gpu.py \
    tests/gpu/test_export_triton_gpu.py >"$OUT/phase2.log" 2>&1 &
wait
timeout -s INT "${PHASE3_S:-200}" "${PYTEST[@]}" -n 0 --junitxml "$OUT/phase3.xml" \
    tests/gpu/test_evaluator_memory_gpu.py tests/gpu/test_evaluator_per_gpu_gpu.py \
    tests/gpu/test_ceilings_gpu.py >"$OUT/phase3.log" 2>&1
python3 evals/junit_table.py "$OUT"/phase*.xml --json "$OUT/summary.json"
