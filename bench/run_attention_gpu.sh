#!/usr/bin/env bash
# One call on the GPU machine for attention: build the attention tests and benchmark (NVIDIA, sm_90a),
# run the tests, the benchmark and the PyTorch SDPA peer in the same session. Logs go to $OUT (or ./out).
#   bash bench/run_attention_gpu.sh        ATTN_TESTS=0: benchmark only; ATTN_BENCH=0: tests only
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 --target fusekit_gpu_attention_tests fusekit_attention_bench ${ATTN_EXTRA_TARGETS:-} \
  > "$OUT/build_attention.log" 2>&1 || { grep -E "error|FAILED" -A3 "$OUT/build_attention.log" | head -60; exit 1; }
echo "build ok"
if [ "${ATTN_TESTS:-1}" = "1" ]; then
  build-gpu/tests/fusekit_gpu_attention_tests > "$OUT/attention_tests.log" 2>&1; echo "attention tests rc=$?"
  grep -E "^\[  (PASSED|FAILED) |OK \]|FAILED \]" "$OUT/attention_tests.log" | head -30
  grep -B2 -A12 "Failure" "$OUT/attention_tests.log" | head -80
fi
if [ "${ATTN_BENCH:-1}" = "1" ]; then
  build-gpu/bench/fusekit_attention_bench --json "$OUT/attention_bench.json" 2>&1 | tee "$OUT/attention_bench.txt"
  python3 bench/peers/attention_torch.py --fusekit-json "$OUT/attention_bench.json" 2>&1 | tee "$OUT/attention_peer.txt"
fi
