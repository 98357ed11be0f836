#!/usr/bin/env bash
# One call on the GPU machine's CPU (16 cores) for issue #6's CPU comparison: a CPU-only build with
# -march=native (no GPU code, so it builds in about two minutes), a random b18c384nbt saved once,
# katago-bench at 1 and 16 threads, then the PyTorch (eager NCHW, channels_last, torch.compile) and ONNX
# Runtime peers on the same model file, same threads. Logs and tables go to $OUT (or ./out).
#   bash bench/run_katago_cpu.sh        (needs .deps from ../shared/tools/stage-gpu-deps)
#   KATAGO_CPU_SECONDS=2 ...            shorter timing per row (default 4)
set -uo pipefail
OUT=${OUT:-$PWD/out}
mkdir -p "$OUT"
SEC=${KATAGO_CPU_SECONDS:-4}
lscpu | grep -E "Model name|^CPU\(s\)|Thread|Flags" | cut -c1-160 | tee "$OUT/cpu.txt"
cmake -S . -B build-cpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS=-march=native -DFUSEKIT_BUILD_TESTS=OFF \
  -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure_cpu.log" 2>&1 || { tail -30 "$OUT/configure_cpu.log"; exit 1; }
cmake --build build-cpu -j 16 --target katago-bench katago-eval > "$OUT/build_cpu.log" 2>&1 || { grep -E "error|FAILED" "$OUT/build_cpu.log" | head -40; exit 1; }
M=/tmp/b18c384nbt-random.bin.gz
build-cpu/examples/katago-eval --device cpu --save-model $M --output-dir /tmp/eval_cpu > "$OUT/eval_cpu.txt" 2>&1
for t in 16 1; do
  build-cpu/examples/katago-bench --device cpu --threads $t --batch 1,8 --seconds "$SEC" --model $M 2>/dev/null | tee -a "$OUT/katago_cpu_bench.txt"
done
python3 bench/peers/katago_cpu_peers.py --model $M --batch 8 --threads 1,16 --seconds "$SEC" 2>&1 | grep -v Warning | tee "$OUT/katago_cpu_peers.txt"
