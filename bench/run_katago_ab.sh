#!/usr/bin/env bash
# A same-call A/B of katago-bench (GPU, fp16, random b18c384nbt) between this tree and an older commit:
# for questions such as "is the network slower than at commit X", which timings from different calls
# cannot settle (the pool's machines of one kind differ by several percent). Runs alternate, 3 rounds.
#   here:    bash bench/run_katago_ab.sh prepare REV   the tree of REV into ab-old/ (ignored by git)
#   device:  bash bench/run_katago_ab.sh run           with carry [".deps", "ab-old"]; both builds take
#            about 6 minutes on a fresh machine, the runs about 2
#   KATAGO_AB_BATCHES=1,8,64,256 KATAGO_AB_SECONDS=1.5 (defaults)
set -uo pipefail
case "${1:-}" in
  prepare)
    rev=${2:?usage: run_katago_ab.sh prepare REV}
    rm -rf ab-old && mkdir ab-old && git archive "$rev" | tar -x -C ab-old && git rev-parse "$rev" > ab-old/REV
    echo "ab-old/ holds $(cat ab-old/REV)"
    ;;
  run)
    [ -f ab-old/REV ] || { echo "no ab-old/: run 'bash bench/run_katago_ab.sh prepare REV' first and carry ab-old"; exit 1; }
    OUT=${OUT:-$PWD/out}
    mkdir -p "$OUT"
    B=${KATAGO_AB_BATCHES:-1,8,64,256}
    S=${KATAGO_AB_SECONDS:-1.5}
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
    for tree in new old; do
      src=$([ $tree = new ] && echo . || echo ab-old)
      cmake -S $src -B $src/build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA -DCMAKE_CUDA_ARCHITECTURES=90a \
        -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure_$tree.log" 2>&1 ||
        { echo "configure failed ($tree)"; tail -20 "$OUT/configure_$tree.log"; exit 1; }
    done
    # both builds at once, 8 jobs each
    cmake --build build-gpu -j 8 --target katago-bench > "$OUT/build_new.log" 2>&1 & new=$!
    cmake --build ab-old/build-gpu -j 8 --target katago-bench > "$OUT/build_old.log" 2>&1 & old=$!
    wait $new || { echo "build of this tree failed"; tail -20 "$OUT/build_new.log"; exit 1; }
    wait $old || { echo "build of ab-old failed"; tail -20 "$OUT/build_old.log"; exit 1; }
    echo "built: this tree and $(cat ab-old/REV)"
    for round in 1 2 3; do
      for tree in ab-old .; do
        name=$([ $tree = . ] && echo new || echo "old $(cut -c1-7 ab-old/REV)")
        echo "== round $round, $name" | tee -a "$OUT/katago_ab.txt"
        $tree/build-gpu/examples/katago-bench --device gpu --dtype fp16 --batch "$B" --seconds "$S" 2>/dev/null |
          tee -a "$OUT/katago_ab.txt"
      done
    done
    ;;
  *) echo "usage: run_katago_ab.sh prepare REV | run"; exit 1 ;;
esac
