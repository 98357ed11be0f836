#pragma once
// Warp and block reductions. Block level maps to the vendor library: CUB under nvcc, rocPRIM under
// hipcc; warp level uses the vendor shuffle with the target's warp size.
#include "fusekit/backend/hip/vendor.hpp"

#if FUSEKIT_GPUCC
#if FUSEKIT_VENDOR_CUDA
#include <cub/block/block_reduce.cuh>
#else
#include <rocprim/block/block_reduce.hpp>
#endif

namespace fusekit::gpu {

// Sum over a warp; every lane receives the result.
FUSEKIT_DEVICE inline float warp_sum(float v) {
  FUSEKIT_UNROLL
  for (int m = warp_size() / 2; m > 0; m /= 2) v += shfl_xor(v, m);
  return v;
}

// Sum over a block of kBlock threads; every thread receives the result. Uses its own shared storage,
// so two calls in one kernel need no barrier between them beyond the one inside.
template <int kBlock>
struct BlockSum {
#if FUSEKIT_VENDOR_CUDA
  using Impl = cub::BlockReduce<float, kBlock>;
  using Storage = typename Impl::TempStorage;
  FUSEKIT_DEVICE static float reduce_to_first(float v, Storage& st) { return Impl(st).Sum(v); }
#else
  using Impl = rocprim::block_reduce<float, kBlock>;
  using Storage = typename Impl::storage_type;
  FUSEKIT_DEVICE static float reduce_to_first(float v, Storage& st) {
    float out;
    Impl().reduce(v, out, st, rocprim::plus<float>());
    return out;
  }
#endif

  FUSEKIT_DEVICE static float all(float v) {
    FUSEKIT_SHARED Storage storage;
    FUSEKIT_SHARED float result;
    const float s = reduce_to_first(v, storage);
    if (threadIdx.x == 0) result = s;
    __syncthreads();
    return result;
  }
};

}  // namespace fusekit::gpu
#endif
