#!/usr/bin/env bash
# One call on the GPU machine: build (NVIDIA, sm_90a), run the GPU tests (and the CPU ones there too),
# the GPU benchmark and the PyTorch peer in the same session. Logs and tables go to $OUT (or ./out).
#   bash bench/run_gpu.sh                  (needs .deps from ../shared/tools/stage-gpu-deps)
#   FUSEKIT_BENCH=0 bash bench/run_gpu.sh  tests only
#   FUSEKIT_BENCH_ONLY=gemm bash ...       one group of benchmarks (ops or gemm), fusekit and torch
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
export FUSEKIT_SHARED_DIR=${FUSEKIT_SHARED_DIR:-$PWD/.deps/shared}
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 > "$OUT/build.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build.log" | head -40; exit 1; }
echo "build ok"
ctest --test-dir build-gpu -L gpu --output-on-failure -j 1 > "$OUT/ctest_gpu.log" 2>&1; gpu_rc=$?
tail -5 "$OUT/ctest_gpu.log"
ctest --test-dir build-gpu -L cpu -j 8 > "$OUT/ctest_cpu.log" 2>&1; cpu_rc=$?
tail -3 "$OUT/ctest_cpu.log"
if [ "${FUSEKIT_BENCH:-1}" = "0" ]; then echo "ctest gpu rc=$gpu_rc cpu rc=$cpu_rc (benchmarks skipped)"; exit 0; fi
only=()
[ -n "${FUSEKIT_BENCH_ONLY:-}" ] && only=(--only "$FUSEKIT_BENCH_ONLY")
build-gpu/bench/fusekit_gpu_bench "${only[@]}" --json "$OUT/fusekit_bench_first.json" > "$OUT/bench_first.txt" 2>&1  # spread check
build-gpu/bench/fusekit_gpu_bench "${only[@]}" --json "$OUT/fusekit_bench.json" 2>&1 | tee "$OUT/bench.txt"
python3 bench/peers/torch_ops.py "${only[@]}" --fusekit-json "$OUT/fusekit_bench.json" 2>&1 | tee "$OUT/peers.txt"
echo "ctest gpu rc=$gpu_rc cpu rc=$cpu_rc"
