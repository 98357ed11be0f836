#pragma once
// Warp and block reductions. Block level maps to the vendor library: CUB under nvcc, rocPRIM under
// hipcc; warp level uses the vendor shuffle with the target's warp size.
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/dtype.hpp"

#if FUSEKIT_GPUCC
#if FUSEKIT_VENDOR_CUDA
#include <cub/block/block_reduce.cuh>
#else
#include <rocprim/block/block_reduce.hpp>
#endif

namespace fusekit::gpu {

struct gpu_plus_float {
  FUSEKIT_HOST_DEVICE float operator()(float a, float b) const { return a + b; }
};
// max that propagates NaN (fmaxf would drop it): a NaN anywhere in a row must reach the row's result.
struct gpu_max_float {
  FUSEKIT_HOST_DEVICE float operator()(float a, float b) const { return nan_max(a, b); }
};

// Sum over a warp; every lane receives the result.
FUSEKIT_DEVICE inline float warp_sum(float v) {
  FUSEKIT_UNROLL
  for (int m = warp_size() / 2; m > 0; m /= 2) v += shfl_xor(v, m);
  return v;
}

// Max over a warp; every lane receives the result.
FUSEKIT_DEVICE inline float warp_max(float v) {
  FUSEKIT_UNROLL
  for (int m = warp_size() / 2; m > 0; m /= 2) v = gpu_max_float{}(v, shfl_xor(v, m));
  return v;
}

// Op (sum or max) of floats over a block of kBlock threads; every thread receives the result.
template <int kBlock, class Op = gpu_plus_float>
struct BlockAll {
  using Value = float;
  using Plus = Op;
#if FUSEKIT_VENDOR_CUDA
  using Impl = cub::BlockReduce<Value, kBlock>;
  using Storage = typename Impl::TempStorage;
  FUSEKIT_DEVICE static Value reduce_to_first(const Value& v, Storage& st) { return Impl(st).Reduce(v, Plus{}); }
#else
  using Impl = rocprim::block_reduce<Value, kBlock>;
  using Storage = typename Impl::storage_type;
  FUSEKIT_DEVICE static Value reduce_to_first(const Value& v, Storage& st) {
    Value out;
    Impl().reduce(v, out, st, Plus{});
    return out;
  }
#endif

  // Repeated calls alternate `slot` (0, 1, 0, ...): the result of call i is read after its barrier, and
  // its slot is written again only by call i + 2, after call i + 1's barrier. The barrier also ends every
  // use of the temporary storage, so the next call may reuse it.
  FUSEKIT_DEVICE static Value all(const Value& v, int slot = 0) {
    FUSEKIT_SHARED Storage storage;
    FUSEKIT_SHARED Value result[2];
    const Value s = reduce_to_first(v, storage);
    if (threadIdx.x == 0) result[slot] = s;
    __syncthreads();
    return result[slot];
  }
};

// Two sums over a block at once, with one barrier: each warp sums by shuffles, lane 0 of every warp stores
// its pair, and after the barrier every thread adds the pairs in the same order. Calls alternate `slot`.
template <int kBlock>
FUSEKIT_DEVICE float2 block_sum2(float2 v, int slot = 0) {
  constexpr int warps = kBlock / warp_size();
  FUSEKIT_SHARED float2 parts[2][warps];
  v.x = warp_sum(v.x);
  v.y = warp_sum(v.y);
  if (threadIdx.x % warp_size() == 0) parts[slot][threadIdx.x / warp_size()] = v;
  __syncthreads();
  float2 r = parts[slot][0];
  FUSEKIT_UNROLL
  for (int w = 1; w < warps; ++w) r.x += parts[slot][w].x, r.y += parts[slot][w].y;
  return r;
}

template <int kBlock> using BlockSum = BlockAll<kBlock, gpu_plus_float>;
template <int kBlock> using BlockMax = BlockAll<kBlock, gpu_max_float>;

// The groups a row kernel reduces over (softmax, RMSNorm, LayerNorm): one warp, by shuffles only, or a
// block of kBlock threads. Every thread of the group receives the result.
struct WarpGroup {
  FUSEKIT_DEVICE static float max(float v) { return warp_max(v); }
  FUSEKIT_DEVICE static float sum(float v) { return warp_sum(v); }
  FUSEKIT_DEVICE static float2 sum2(float2 v, int = 0) { return {warp_sum(v.x), warp_sum(v.y)}; }
};
template <int kBlock>
struct BlockGroup {
  FUSEKIT_DEVICE static float max(float v) { return BlockMax<kBlock>::all(v); }
  FUSEKIT_DEVICE static float sum(float v) { return BlockSum<kBlock>::all(v); }
  FUSEKIT_DEVICE static float2 sum2(float2 v, int slot = 0) { return block_sum2<kBlock>(v, slot); }
};

}  // namespace fusekit::gpu
#endif
