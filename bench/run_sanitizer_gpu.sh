#!/usr/bin/env bash
# compute-sanitizer over the GPU test binaries built by bench/run_gpu.sh (build-gpu): memcheck (with
# leak checking), initcheck, synccheck and racecheck, run side by side (one process per tool and binary;
# the machine has 16 cores). Tests whose shapes make the slow tools run for many minutes are left out
# (listed below); racecheck, the slowest, gets one test per kernel family. Logs in $OUT/sanitizer/.
# API errors are not reported: two tests provoke them on purpose (out of memory, an invalid launch), and
# every other runtime call is checked by fusekit itself, so one would fail its test anyway.
#   bash bench/run_sanitizer_gpu.sh [DEADLINE_S=540] [JOB_FILTER=.]   (JOB_FILTER: a grep -E pattern
#                                                                       over "tool binary filter")
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT/sanitizer"
export FUSEKIT_SHARED_DIR=${FUSEKIT_SHARED_DIR:-$PWD/.deps/shared}
deadline=${1:-540}
job_filter=${2:-.}
cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
b=build-gpu/tests
heavy="*Pi0Shapes*:*B18c384nbt*:*Pi0PolicyMatches*:*AllPathsShapesAndDtypes*"
jobs=()
for tool in memcheck initcheck synccheck; do
  jobs+=("$tool fusekit_gpu_tests -$heavy")
  jobs+=("$tool fusekit_gpu_katago_tests -$heavy")
  jobs+=("$tool fusekit_gpu_attention_tests -$heavy")
  jobs+=("$tool fusekit_gpu_transformer_tests -$heavy")
done
jobs+=("racecheck fusekit_gpu_tests *GemmMmaTiles*:*GemmWgmmaTiles*:*GemmSkinny*:*ConvMma*:*RmsNormForced*:*Softmax*:*GlobalPooling*:*Rope*")
jobs+=("racecheck fusekit_gpu_attention_tests *EveryTileShape*:*KeySplits*:*DecodeEqualsPrefill*")
jobs+=("racecheck fusekit_gpu_katago_tests *RandomNetsMatchTheCpu*")
jobs+=("racecheck fusekit_gpu_transformer_tests *DecodeEqualsPrefillBf16*:*JointAttention*Bf16*")

run_one() {
  local tool=$1 bin=$2 filter=$3
  local log="$OUT/sanitizer/${tool}_${bin}.log"
  local extra=()
  [ "$tool" = memcheck ] && extra=(--leak-check full)
  timeout "$deadline" "$cs" --tool "$tool" "${extra[@]}" --report-api-errors no --error-exitcode 99 --print-limit 20 \
    "$b/$bin" --gtest_filter="$filter" > "$log" 2>&1
  local rc=$?
  local summary
  summary=$(grep -E "ERROR SUMMARY|RACECHECK SUMMARY|LEAK SUMMARY" "$log" | tail -2 | tr '\n' ' ')
  local passed failed
  passed=$(grep -c "^\[       OK \]" "$log")
  failed=$(grep -c "^\[  FAILED  \]" "$log")
  printf '%-10s %-30s rc=%-3s tests ok=%s failed=%s %s\n' "$tool" "$bin" "$rc" "$passed" "$failed" \
    "$([ $rc = 124 ] && echo "(stopped at the ${deadline} s deadline) ")$summary"
}
export -f run_one
export OUT deadline cs b
printf '%s\n' "${jobs[@]}" | grep -E -- "$job_filter" | xargs -P 16 -I{} bash -c 'set -f; run_one {}' | sort | tee "$OUT/sanitizer/summary.txt"
