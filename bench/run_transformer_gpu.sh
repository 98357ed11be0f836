#!/usr/bin/env bash
# One call on the GPU machine for the transformer work: build the transformer tests and pi0-policy (NVIDIA,
# sm_90a), run the tests, then pi0-policy (graph replay and stream launches) and its PyTorch peer in the
# same session. Logs go to $OUT (or ./out).
#   bash bench/run_transformer_gpu.sh        TF_TESTS=0: timings only; TF_BENCH=0: tests only
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem --format=csv,noheader | tee "$OUT/gpu.txt"
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA -DCMAKE_CUDA_ARCHITECTURES=90a \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; exit 1; }
cmake --build build-gpu -j 16 --target fusekit_gpu_transformer_tests pi0-policy ${TF_EXTRA_TARGETS:-} \
  > "$OUT/build_transformer.log" 2>&1 || { grep -E "error|FAILED" -A3 "$OUT/build_transformer.log" | head -60; exit 1; }
echo "build ok"
if [ "${TF_TESTS:-1}" = "1" ]; then
  build-gpu/tests/fusekit_gpu_transformer_tests > "$OUT/transformer_tests.log" 2>&1; echo "transformer tests rc=$?"
  grep -E "^\[  (PASSED|FAILED) |OK \]|FAILED \]" "$OUT/transformer_tests.log" | head -30
  grep -B2 -A12 "Failure" "$OUT/transformer_tests.log" | head -80
fi
if [ "${TF_BENCH:-1}" = "1" ]; then
  build-gpu/examples/pi0-policy --iters 30 --json "$OUT/pi0_graph.json" 2>&1 | tr '\r' '\n' | grep -v "^[A-Za-z ]*: [0-9]*/[0-9]*$" | tee "$OUT/pi0_policy.txt"
  build-gpu/examples/pi0-policy --iters 10 --no-graph --json "$OUT/pi0_stream.json" 2>&1 | tr '\r' '\n' | grep -v "^[A-Za-z ]*: [0-9]*/[0-9]*$" | tee -a "$OUT/pi0_policy.txt"
  [ "${PEER:-1}" = "1" ] && timeout ${PEER_TIMEOUT:-420} python3 bench/peers/pi0_torch.py --iters 20 --json "$OUT/pi0_torch.json" 2>&1 | tee "$OUT/pi0_torch.txt"
fi
