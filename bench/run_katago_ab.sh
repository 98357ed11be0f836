#!/usr/bin/env bash
# A same-call A/B of katago-bench (GPU, fp16, random b18c384nbt) between this tree and older commits:
# for questions such as "is the network slower than at commit X", which timings from different calls
# cannot settle (the pool's machines of one kind differ by several percent). Runs alternate, in rounds.
#   here:    bash bench/run_katago_ab.sh prepare REV [REV...]   each REV's sources into ab-old/<rev>/
#            (ignored by git; only what katago-bench needs, about 1 MB each)
#   here:    bash bench/run_katago_ab.sh build     (optional, no GPU needed) builds katago-bench of this
#            tree and of each ab-old/<rev> here (about 4 minutes per tree and core) into one archive,
#            ab-old/bin.tar.xz (about 5 MB per tree, so up to 10 trees fit in carry's 64 MiB), so that
#            the device call only times them: carry ["ab-old/bin.tar.xz"]
#   device:  bash bench/run_katago_ab.sh run       the prebuilt archive if carried; else every tree
#            builds there at once (carry [".deps", "ab-old"]; one translation unit per tree, about 4
#            minutes for up to 16 trees). Timing takes about 10-20 s per tree and round.
#   KATAGO_AB_BATCHES=1,8,64,256 KATAGO_AB_SECONDS=1.5 KATAGO_AB_ROUNDS=3 (defaults)
#   KATAGO_AB_ENVS="FUSEKIT_DEPENDENT_LAUNCH=0 ..."   extra runs of this tree, one per VAR=VALUE
set -uo pipefail

# build_tree SRC NAME DEST LOG: katago-bench of the tree at SRC as DEST/NAME.
build_tree() {
  local src=$1 name=$2 dest=$3 log=$4
  cmake -S "$src" -B "$src/build-ab" -G Ninja -DCMAKE_BUILD_TYPE=Release -DFUSEKIT_GPU=NVIDIA \
    -DCMAKE_CUDA_ARCHITECTURES=90a -DFUSEKIT_BUILD_TESTS=OFF -DFUSEKIT_BUILD_BENCH=OFF \
    -DCMAKE_PREFIX_PATH="$PWD/.deps/usr" > "$log" 2>&1 &&
    cmake --build "$src/build-ab" -j 2 --target katago-bench >> "$log" 2>&1 &&
    cp "$src/build-ab/examples/katago-bench" "$dest/$name"
}

# build_all DEST LOGDIR JOBS: every tree (this one as "new", ab-old/<rev> as "old_<rev>"), JOBS at once.
build_all() {
  local dest=$1 logs=$2 jobs=$3 running=0 failed=0
  mkdir -p "$dest" "$logs"
  for src in . ab-old/*/; do
    src=${src%/}
    [ "$src" = . ] || [ -f "$src/REV" ] || continue
    local name=$([ "$src" = . ] && echo new || echo "old_$(basename "$src")")
    build_tree "$src" "$name" "$dest" "$logs/build_$name.log" || { echo "build failed: $src (log: $logs/build_$name.log)"; } &
    running=$((running + 1))
    if [ $running -ge "$jobs" ]; then wait -n; running=$((running - 1)); fi
  done
  wait
  ls "$dest"
}

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
  build)
    ls ab-old/*/REV > /dev/null 2>&1 || { echo "no ab-old/*/: run 'run_katago_ab.sh prepare REV...' first"; exit 1; }
    rm -rf ab-old/bin ab-old/bin.tar.xz
    build_all ab-old/bin/gpu ab-old/logs "$(nproc)"
    strip ab-old/bin/gpu/*
    mkdir -p ab-old/bin/lib && cp -L .deps/usr/lib/*/libfmt.so.* ab-old/bin/lib/ 2> /dev/null
    (cd ab-old && tar -cf - bin | xz -T0 -6 > bin.tar.xz) && rm -rf ab-old/bin
    echo "ab-old/bin.tar.xz: $(du -h ab-old/bin.tar.xz | cut -f1); carry [\"ab-old/bin.tar.xz\"]"
    ;;
  run)
    OUT=${OUT:-$PWD/out}
    mkdir -p "$OUT"
    B=${KATAGO_AB_BATCHES:-1,8,64,256}
    S=${KATAGO_AB_SECONDS:-1.5}
    nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$OUT/gpu.txt"
    if [ -f ab-old/bin.tar.xz ]; then
      (cd ab-old && tar -xJf bin.tar.xz)
      echo "prebuilt: $(ls ab-old/bin/gpu | tr '\n' ' ')"
    else
      ls ab-old/*/REV > /dev/null 2>&1 || { echo "no ab-old/: run 'run_katago_ab.sh prepare REV...' first and carry ab-old"; exit 1; }
      build_all ab-old/bin/gpu "$OUT" 16 > /dev/null
      echo "built: $(ls ab-old/bin/gpu | tr '\n' ' ')"
    fi
    export LD_LIBRARY_PATH=$PWD/ab-old/bin/lib:$PWD/.deps/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
    runs=()
    for b in ab-old/bin/gpu/*; do runs+=("$(basename "$b")|"); done
    for e in ${KATAGO_AB_ENVS:-}; do runs+=("new|$e"); done
    for round in $(seq 1 "${KATAGO_AB_ROUNDS:-3}"); do
      for r in "${runs[@]}"; do
        name=${r%%|*}; e=${r#*|}
        echo "== round $round, $name${e:+ with $e}" | tee -a "$OUT/katago_ab.txt"
        env $e "ab-old/bin/gpu/$name" --device gpu --dtype fp16 --batch "$B" --seconds "$S" 2>&1 |
          grep -E '^ +[0-9]|rror' | tee -a "$OUT/katago_ab.txt"
      done
    done
    ;;
  *) echo "usage: run_katago_ab.sh prepare REV [REV...] | build | run"; exit 1 ;;
esac
