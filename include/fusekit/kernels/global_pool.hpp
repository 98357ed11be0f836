#pragma once
// GPU global pooling. A block of 256 threads pools 32 channels of one board: with channels dense in
// memory (NHWC) its 8 rows of 32 threads stride over the cells, 32 consecutive channels per load, and
// reduce through shared memory; otherwise (NCHW) each warp pools whole channel planes with its lanes
// along the cells. Every block sums the mask itself (a few hundred cells).
#include <cstdint>
#include <limits>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/global_pool_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

inline constexpr int pool_block = 256, pool_channels = 32;

template <class T, class O>
FUSEKIT_GLOBAL void __launch_bounds__(pool_block) global_pool_kernel(GlobalPoolParams<T, O> p, bool channels_dense) {
  const index_t n = blockIdx.y, c0 = static_cast<index_t>(blockIdx.x) * pool_channels;
  const index_t C = p.shape[1];
  // cells of one board are few (19 x 19): 32-bit index arithmetic (the host checks H * W < 2^31)
  const auto W = static_cast<std::uint32_t>(p.shape[3]), cells = static_cast<std::uint32_t>(p.shape[2] * p.shape[3]);
  const auto& xs = p.x_strides;
  const auto& ms = p.mask_strides;
  const T* mask = p.mask ? p.mask + n * ms[0] : nullptr;
  const T* x = p.x + n * xs[0];
  auto mask_at = [&](std::uint32_t k) {
    const std::uint32_t h = k / W;
    return mask ? to_float(mask[h * ms[2] + (k - h * W) * ms[3]]) : 1.f;
  };
  auto x_at = [&](index_t c, std::uint32_t k) {
    const std::uint32_t h = k / W;
    return to_float(x[c * xs[1] + h * xs[2] + (k - h * W) * xs[3]]);
  };
  float area = 0.f;
  for (std::uint32_t k = threadIdx.x; k < cells; k += pool_block) area += mask_at(k);
  area = gpu::BlockSum<pool_block>::all(area);
  auto finish = [&](index_t c, float sum, float mx) {
    const PooledValues r = pooled_values(p.kind, sum, mx, area);
    FUSEKIT_UNROLL
    for (int j = 0; j < 3; ++j) p.out(n, j * C + c) = convert<O>(r.v[j]);
  };
  constexpr float inf = std::numeric_limits<float>::infinity();
  if (channels_dense) {
    constexpr int rows = pool_block / pool_channels;
    FUSEKIT_SHARED float sums[rows][pool_channels], maxes[rows][pool_channels];
    const int tx = threadIdx.x % pool_channels, ty = threadIdx.x / pool_channels;
    const index_t c = c0 + tx;
    float sum = 0.f, mx = -inf;
    if (c < C)
      for (std::uint32_t k = ty; k < cells; k += rows) {
        const float m = mask_at(k), v = x_at(c, k);
        sum += v * m;
        if (m != 0.f) mx = nan_max(mx, v);
      }
    sums[ty][tx] = sum;
    maxes[ty][tx] = mx;
    __syncthreads();
    if (ty == 0 && c < C) {
      FUSEKIT_UNROLL
      for (int r = 1; r < rows; ++r) {
        sum += sums[r][tx];
        mx = nan_max(mx, maxes[r][tx]);
      }
      finish(c, sum, mx);
    }
  } else {
    constexpr int lanes = gpu::warp_size();
    constexpr int warps = pool_block / lanes;
    const int lane = threadIdx.x % lanes;
    for (index_t c = c0 + threadIdx.x / lanes; c < C && c < c0 + pool_channels; c += warps) {
      float sum = 0.f, mx = -inf;
      for (std::uint32_t k = lane; k < cells; k += lanes) {
        const float m = mask_at(k), v = x_at(c, k);
        sum += v * m;
        if (m != 0.f) mx = nan_max(mx, v);
      }
      sum = gpu::warp_sum(sum);
      mx = gpu::warp_max(mx);
      if (lane == 0) finish(c, sum, mx);
    }
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::GlobalPool, HipBackend> {
  template <class T, class O>
  static void run(const hip::Stream& s, const GlobalPoolParams<T, O>& p) {
    FUSEKIT_CHECK(p.shape[0] <= 65535, "global_pool: batch {} exceeds the GPU grid limit (65535)", p.shape[0]);
    FUSEKIT_CHECK(p.shape[2] * p.shape[3] < (index_t{1} << 31), "global_pool: {} x {} cells exceed 2^31", p.shape[2],
                  p.shape[3]);
    const dim3 grid(static_cast<unsigned>((p.shape[1] + kernels::pool_channels - 1) / kernels::pool_channels),
                    static_cast<unsigned>(p.shape[0]));
    const bool channels_dense = p.x_strides[1] == 1;
    hip::launch("global_pool", kernels::global_pool_kernel<T, O>, grid, dim3(kernels::pool_block), 0, s, p,
                channels_dense);
  }
};

}  // namespace fusekit
#endif
