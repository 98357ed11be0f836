#!/usr/bin/env bash
# One device call that decides the DecodeStack staging experiments (branch exp/decode-stack-staging).
# Built here beforehand (no GPU needed):
#   nvcc ... bench/experiments/broadcast_stage.cu   -> build-s31/broadcast_stage
#   nvcc ... bench/experiments/decode_megakernel.cu -> build-s31/decode_megakernel_xb (this tree) and
#            build-s31/decode_megakernel_base (main's tree), see the files' headers for the flags
#   tools/gpu-bundle pack fusekit_gpu_transformer_tests pi0-policy
#   optionally build-s31/pi0-policy-rope: pi0-policy of main + exp/rope-pos-ldg
# On the device: bash bench/experiments/decode_stack_call.sh   (carry ["gpu-bundle.tar.xz", ".deps/shared", "build-s31"])
# Every step has its own time limit and line-buffered output, so a step that hangs (a grid barrier that
# never opens) costs its limit and keeps what it printed; the steps that decide the most come first.
set -u
out=${OUT:-/tmp}/log.txt
step() {  # step SECONDS CMD...: run with a limit, say how it ended
  local limit=$1
  shift
  timeout "$limit" stdbuf -oL -eL "$@"
  local rc=$?
  [ $rc -eq 0 ] || echo "(exit $rc$([ $rc -eq 124 ] && echo ": over the ${limit} s limit"))"
}
pi0() { step 75 tools/gpu-bundle run pi0-policy --iters 30 2>&1 | tr '\r' '\n' | grep -a "action expert\|median of\|rror\|exit"; }
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "== fusekit_gpu_transformer_tests"
  step 150 tools/gpu-bundle run fusekit_gpu_transformer_tests 2>&1 | tail -40
  echo "== decode_megakernel 18 (this branch: variants)"
  step 150 ./build-s31/decode_megakernel_xb 18
  echo "== decode_megakernel 18 (main)"
  step 90 ./build-s31/decode_megakernel_base 18 | grep -v "^  [A-Z]"
  echo "== broadcast_stage"
  step 60 ./build-s31/broadcast_stage
  echo "== pi0-policy: gemma_forward (FUSEKIT_DECODE_STACK=0), DecodeStack (the default since the thirty-second session), rope-pos-ldg"
  FUSEKIT_DECODE_STACK=0 pi0
  pi0
  if [ -x build-s31/pi0-policy-rope ]; then
    FUSEKIT_DECODE_STACK=0 LD_LIBRARY_PATH=$PWD/.gpu-bundle/bundle/lib step 75 build-s31/pi0-policy-rope --iters 30 2>&1 | tr '\r' '\n' |
      grep -a "action expert\|median of\|rror\|exit"
  fi
} 2>&1 | tee "$out"
