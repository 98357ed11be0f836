#!/usr/bin/env bash
# One call on the GPU machine for the KataGo network: build the KataGo targets (NVIDIA, sm_90a), run the
# KataGo GPU tests, cross-check fusekit against the PyTorch peer on the same weights, and time fusekit
# (katago-bench) beside the peer (CUDA graph, torch.compile + CUDA graph) on a random b18c384nbt.
#   bash bench/run_katago_gpu.sh            (needs .deps from ../shared/tools/stage-gpu-deps)
#   KATAGO_BATCHES=1,8 KATAGO_TESTS=0 ...   fewer batch sizes / no tests
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export FUSEKIT_SHARED_DIR=${FUSEKIT_SHARED_DIR:-$PWD/.deps/shared}
B=${KATAGO_BATCHES:-1,8,64,256}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
targets=(katago-eval katago-bench)
[ "${KATAGO_TESTS:-1}" = "1" ] && targets+=(fusekit_gpu_katago_tests)
cmake --build build-gpu -j 16 --target "${targets[@]}" > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
echo "build ok"
if [ "${KATAGO_TESTS:-1}" = "1" ]; then
  build-gpu/tests/fusekit_gpu_katago_tests > "$OUT/katago_gtest.txt" 2>&1; echo "katago gpu tests rc=$?"
  grep -E "^\[  (PASSED|FAILED)|FAILED|max \|diff\|" "$OUT/katago_gtest.txt" | head -60
fi
M=/tmp/b18c384nbt-random.bin.gz
build-gpu/examples/katago-eval --device gpu --dtype fp32 --save-model $M --output-dir /tmp/eval32 > "$OUT/eval_fp32.txt" 2>&1
build-gpu/examples/katago-eval --device gpu --dtype fp16 --output-dir /tmp/eval16 > "$OUT/eval_fp16.txt" 2>&1
head -12 "$OUT/eval_fp16.txt"
python3 bench/peers/katago_torch.py --model $M --check /tmp/eval32 --batch 1 2>&1 | head -3 | tee "$OUT/check_fp32.txt"
python3 bench/peers/katago_torch.py --model $M --check /tmp/eval16 --batch 1 2>&1 | head -1 | tee "$OUT/check_fp16.txt"
build-gpu/examples/katago-bench --device gpu --dtype fp16 --batch "$B" --seconds 2 --model $M --json "$OUT/katago_bench.json" 2>/dev/null | tee "$OUT/katago_bench.txt"
# The stream's NormAct stored by its producer conv (NormActPlacement) against the staged pass, alternately.
for na in producer consumer producer; do
  echo "--norm-act $na" | tee -a "$OUT/katago_bench_norm_act.txt"
  build-gpu/examples/katago-bench --device gpu --dtype fp16 --batch "$B" --seconds 1 --model $M --norm-act $na 2>/dev/null | tail -n +2 | tee -a "$OUT/katago_bench_norm_act.txt"
done
python3 bench/peers/katago_torch.py --model $M --batch "$B" --compile --json "$OUT/katago_torch.json" 2>&1 | grep -v Warning | tail -8 | tee "$OUT/katago_torch.txt"
