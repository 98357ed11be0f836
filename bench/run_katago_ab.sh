#!/usr/bin/env bash
# A same-call A/B of katago-bench (GPU, fp16, random b18c384nbt) between this tree and older commits:
# for questions such as "is the network slower than at commit X", which timings from different calls
# cannot settle (the pool's machines of one kind differ by several percent). Runs alternate, in rounds.
#   here:    bash bench/run_katago_ab.sh prepare REV [REV...]   each REV's sources into ab-old/<rev>/
#            (ignored by git; only what katago-bench needs, about 1 MB each, so several fit in carry)
#   device:  bash bench/run_katago_ab.sh run    with carry [".deps", "ab-old"]. Every tree builds at once
#            (katago-bench is one translation unit: about 3 minutes for up to 16 trees), runs about
#            20 s per tree and round.
#   KATAGO_AB_BATCHES=1,8,64,256 KATAGO_AB_SECONDS=1.5 KATAGO_AB_ROUNDS=3 (defaults)
#   KATAGO_AB_ENVS="FUSEKIT_DEPENDENT_LAUNCH=0 ..."   extra runs of this tree, one per VAR=VALUE
set -uo pipefail
case "${1:-}" in
  prepare)
    shift
    [ $# -ge 1 ] || { echo "usage: run_katago_ab.sh prepare REV [REV...]"; exit 1; }
    rm -rf ab-old && mkdir ab-old
    for rev in "$@"; do
      full=$(git rev-parse "$rev^{commit}") || exit 1
      d=ab-old/$(cut -c1-7 <<< "$full")
      mkdir -p "$d" && git archive "$full" CMakeLists.txt cmake include examples bench | tar -x -C "$d" && echo "$full" > "$d/REV"
      echo "$d: $(git log --format='%h %ad %s' --date=short -1 "$full" | cut -c1-100)"
    done
    ;;
  run)
    ls ab-old/*/REV > /dev/null 2>&1 || { echo "no ab-old/*/: run 'run_katago_ab.sh prepare REV...' first and carry ab-old"; exit 1; }
    OUT=${OUT:-$PWD/out}
    mkdir -p "$OUT"
    B=${KATAGO_AB_BATCHES:-1,8,64,256}
    S=${KATAGO_AB_SECONDS:-1.5}
    trees=(. ab-old/*)
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
    pids=()
    for src in "${trees[@]}"; do
      name=$([ "$src" = . ] && echo new || basename "$src")
      ( cmake -S "$src" -B "$src/build-ab" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA \
          -DCMAKE_CUDA_ARCHITECTURES=90a -DFUSEKIT_BUILD_TESTS=OFF -DFUSEKIT_BUILD_BENCH=OFF \
          -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$OUT/configure_$name.log" 2>&1 &&
        cmake --build "$src/build-ab" -j 2 --target katago-bench > "$OUT/build_$name.log" 2>&1 ) & pids+=($!)
    done
    ok=()
    for i in "${!trees[@]}"; do
      if wait "${pids[$i]}"; then ok+=("${trees[$i]}"); else echo "build failed: ${trees[$i]}"; fi
    done
    echo "built: ${ok[*]}"
    runs=()
    for src in "${ok[@]}"; do runs+=("$src|"); done
    for e in ${KATAGO_AB_ENVS:-}; do runs+=(".|$e"); done
    for round in $(seq 1 "${KATAGO_AB_ROUNDS:-3}"); do
      for r in "${runs[@]}"; do
        src=${r%%|*}; e=${r#*|}
        name=$([ "$src" = . ] && echo "new" || echo "old $(basename "$src")")
        echo "== round $round, $name${e:+ with $e}" | tee -a "$OUT/katago_ab.txt"
        env $e "$src/build-ab/examples/katago-bench" --device gpu --dtype fp16 --batch "$B" --seconds "$S" 2>/dev/null |
          grep -E '^ +[0-9]' | tee -a "$OUT/katago_ab.txt"
      done
    done
    ;;
  *) echo "usage: run_katago_ab.sh prepare REV [REV...] | run"; exit 1 ;;
esac
