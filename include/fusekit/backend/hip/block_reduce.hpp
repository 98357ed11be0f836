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

// Count, mean and sum of squared deviations of a set of values (Chan et al.'s pairwise merge): one
// reduction gives LayerNorm both statistics, without E[x^2] - E[x]^2's cancellation when |mean| >> std.
struct MeanM2 {
  float n, mean, m2;
};
FUSEKIT_DEVICE inline MeanM2 merge_mean_m2(const MeanM2& a, const MeanM2& b) {
  const float n = a.n + b.n;
  const float f = n > 0.f ? __fdividef(b.n, n) : 0.f;  // two empty sets (idle lanes) stay empty
  const float d = b.mean - a.mean;
  return {n, a.mean + d * f, a.m2 + b.m2 + d * d * a.n * f};
}
FUSEKIT_DEVICE inline MeanM2 warp_mean_m2(MeanM2 v) {
  FUSEKIT_UNROLL
  for (int m = warp_size() / 2; m > 0; m /= 2)
    v = merge_mean_m2(v, MeanM2{shfl_xor(v.n, m), shfl_xor(v.mean, m), shfl_xor(v.m2, m)});
  return v;
}
// Over a block, with one barrier: each warp merges by shuffles, lane 0 of every warp stores its part, and
// after the barrier every thread merges the parts itself in the same order (so all agree bit for bit).
// Calls alternate `slot` as BlockAll's do.
template <int kBlock>
FUSEKIT_DEVICE MeanM2 block_mean_m2(MeanM2 v, int slot = 0) {
  constexpr int warps = kBlock / warp_size();
  FUSEKIT_SHARED MeanM2 parts[2][warps];
  v = warp_mean_m2(v);
  if (threadIdx.x % warp_size() == 0) parts[slot][threadIdx.x / warp_size()] = v;
  __syncthreads();
  MeanM2 r = parts[slot][0];
  FUSEKIT_UNROLL
  for (int w = 1; w < warps; ++w) r = merge_mean_m2(r, parts[slot][w]);
  return r;
}

template <int kBlock> using BlockSum = BlockAll<kBlock, gpu_plus_float>;
template <int kBlock> using BlockMax = BlockAll<kBlock, gpu_max_float>;

// The groups a row kernel reduces over (softmax, RMSNorm, LayerNorm): one warp, by shuffles only, or a
// block of kBlock threads. Every thread of the group receives the result.
struct WarpGroup {
  FUSEKIT_DEVICE static float max(float v) { return warp_max(v); }
  FUSEKIT_DEVICE static float sum(float v) { return warp_sum(v); }
  FUSEKIT_DEVICE static MeanM2 stats(MeanM2 v) { return warp_mean_m2(v); }
};
template <int kBlock>
struct BlockGroup {
  FUSEKIT_DEVICE static float max(float v) { return BlockMax<kBlock>::all(v); }
  FUSEKIT_DEVICE static float sum(float v) { return BlockSum<kBlock>::all(v); }
  FUSEKIT_DEVICE static MeanM2 stats(MeanM2 v) { return block_mean_m2<kBlock>(v); }
};

}  // namespace fusekit::gpu
#endif
