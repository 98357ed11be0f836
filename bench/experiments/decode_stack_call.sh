#!/usr/bin/env bash
# One device call that decides the DecodeStack staging experiments (branch exp/decode-stack-staging).
# Built here beforehand (no GPU needed):
#   nvcc ... bench/experiments/broadcast_stage.cu   -> build-s31/broadcast_stage
#   nvcc ... bench/experiments/decode_megakernel.cu -> build-s31/decode_megakernel_xb (this tree) and
#            build-s31/decode_megakernel_base (main's tree), see the files' headers for the flags
#   tools/gpu-bundle pack fusekit_gpu_transformer_tests pi0-policy
#   optionally build-s31/pi0-policy-rope: pi0-policy of main + exp/rope-pos-ldg
# On the device: bash bench/experiments/decode_stack_call.sh   (carry ["gpu-bundle.tar.xz", ".deps/shared", "build-s31"])
set -u
out=${OUT:-/tmp}/log.txt
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "== broadcast_stage"
  ./build-s31/broadcast_stage
  echo "== fusekit_gpu_transformer_tests"
  tools/gpu-bundle run fusekit_gpu_transformer_tests 2>&1 | tail -40
  echo "== decode_megakernel 18 (this branch: variants)"
  ./build-s31/decode_megakernel_xb 18
  echo "== decode_megakernel 18 (main)"
  ./build-s31/decode_megakernel_base 18 | grep -v "^  [A-Z]"
  for round in 1 2; do
    echo "== pi0-policy round $round: default (gemma_forward), DecodeStack, rope-pos-ldg"
    tools/gpu-bundle run pi0-policy --iters 30 2>&1 | tr '\r' '\n' | grep -a "action expert\|median of\|rror"
    FUSEKIT_DECODE_STACK=1 tools/gpu-bundle run pi0-policy --iters 30 2>&1 | tr '\r' '\n' | grep -a "action expert\|median of\|rror"
    if [ -x build-s31/pi0-policy-rope ]; then
      LD_LIBRARY_PATH=$PWD/.gpu-bundle/bundle/lib build-s31/pi0-policy-rope --iters 30 2>&1 | tr '\r' '\n' |
        grep -a "action expert\|median of\|rror"
    fi
  done
} 2>&1 | tee "$out"
