#pragma once
// GPU global pooling. A block of 256 threads pools 32 channels of one board.
//  vectorized (NHWC, channels a multiple of a 16-byte vector, aligned, cells of x and mask flat): each
//      thread moves 16-byte vectors of channels (4 threads per cell in 16-bit types) down 64 rows of
//      cells; the mask's area is summed on the way, and one shared-memory pass reduces all three.
//  channels dense otherwise: 8 rows of 32 threads stride over the cells, one channel per thread.
//  NCHW: each warp pools whole channel planes with its lanes along the cells.
// A board's pooling is a chain of loads per thread, so their latency is its time: a batch-1 KataGo pool
// (2 blocks) took 23 us on H200 with 45 element loads per thread, where 16-byte vectors need 6.
#include <cstdint>
#include <limits>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
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
  gpu::wait_for_prior_grid();  // launched dependent (see run)
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

// 16-byte vectors of channels (see the top). Needs: x_strides[1] == 1, C, x_strides[0] and x_strides[3]
// multiples of kVec, x 16-byte aligned, x and mask cells flat (h stride == W * w stride).
template <class T, class O>
FUSEKIT_GLOBAL void __launch_bounds__(pool_block) global_pool_vectors(GlobalPoolParams<T, O> p) {
  gpu::wait_for_prior_grid();  // launched dependent (see run)
  constexpr int kVec = 16 / sizeof(T), lanes = pool_channels / kVec, rows = pool_block / lanes;
  constexpr int parts = pool_block / pool_channels;  // second stage: 8 partial rows per channel
  using V = gpu::Vec<T, kVec>;
  const index_t n = blockIdx.y, C = p.shape[1];
  const auto cells = static_cast<std::uint32_t>(p.shape[2] * p.shape[3]);
  const int tx = threadIdx.x % lanes, ty = threadIdx.x / lanes;
  const index_t c = static_cast<index_t>(blockIdx.x) * pool_channels + tx * kVec;  // first of this thread's
  const T* mask = p.mask ? p.mask + n * p.mask_strides[0] : nullptr;
  const auto* x = reinterpret_cast<const V*>(p.x + n * p.x_strides[0] + c);
  const auto xstep = static_cast<std::uint32_t>(p.x_strides[3] / kVec);
  const auto mstep = static_cast<std::uint32_t>(p.mask_strides[3]);
  constexpr float inf = std::numeric_limits<float>::infinity();
  float sum[kVec], mx[kVec], area = 0.f;
  FUSEKIT_UNROLL
  for (int j = 0; j < kVec; ++j) sum[j] = 0.f, mx[j] = -inf;
  if (c < C) {  // always for tx == 0 (c0 < C), the threads that sum the area
    FUSEKIT_UNROLL_4
    for (std::uint32_t k = ty; k < cells; k += rows) {
      const float m = mask ? to_float(mask[k * mstep]) : 1.f;
      const V v = x[k * xstep];
      if (tx == 0) area += m;
      FUSEKIT_UNROLL
      for (int j = 0; j < kVec; ++j) {
        const float f = to_float(v.v[j]);
        sum[j] += f * m;
        if (m != 0.f) mx[j] = nan_max(mx[j], f);
      }
    }
  }
  // stage 1: rows x 32 partials -> parts x 32; stage 2: parts -> 1 per channel (one warp)
  FUSEKIT_SHARED float s_sum[rows][pool_channels], s_max[rows][pool_channels], s_area[rows];
  FUSEKIT_UNROLL
  for (int j = 0; j < kVec; ++j) s_sum[ty][tx * kVec + j] = sum[j], s_max[ty][tx * kVec + j] = mx[j];
  if (tx == 0) s_area[ty] = area;
  __syncthreads();
  const int ch = threadIdx.x % pool_channels, part = threadIdx.x / pool_channels;
  float ps = 0.f, pm = -inf, pa = 0.f;
  for (int r = part; r < rows; r += parts) {
    ps += s_sum[r][ch];
    pm = nan_max(pm, s_max[r][ch]);
    pa += s_area[r];
  }
  __syncthreads();  // the partials may now overwrite the first rows
  s_sum[part][ch] = ps, s_max[part][ch] = pm;
  if (ch == 0) s_area[part] = pa;
  __syncthreads();
  const index_t cc = static_cast<index_t>(blockIdx.x) * pool_channels + threadIdx.x;
  if (threadIdx.x < pool_channels && cc < C) {
    float total = 0.f, top = -inf, a = 0.f;
    FUSEKIT_UNROLL
    for (int r = 0; r < parts; ++r) {
      total += s_sum[r][threadIdx.x];
      top = nan_max(top, s_max[r][threadIdx.x]);
      a += s_area[r];
    }
    const PooledValues out = pooled_values(p.kind, total, top, a);
    FUSEKIT_UNROLL
    for (int j = 0; j < 3; ++j) p.out(n, j * C + cc) = convert<O>(out.v[j]);
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
    if (channels_dense && vectorizable(p))
      hip::launch_dependent("global_pool", kernels::global_pool_vectors<T, O>, grid, dim3(kernels::pool_block), 0, s, p);
    else
      hip::launch_dependent("global_pool", kernels::global_pool_kernel<T, O>, grid, dim3(kernels::pool_block), 0, s, p,
                  channels_dense);
  }

 private:
  template <class T, class O>
  static bool vectorizable(const GlobalPoolParams<T, O>& p) {
    constexpr index_t vec = 16 / sizeof(T);
    const auto& xs = p.x_strides;
    const auto& ms = p.mask_strides;
    const bool mask_flat = !p.mask || ms[2] == p.shape[3] * ms[3] || p.shape[2] == 1;
    return p.shape[1] % vec == 0 && xs[0] % vec == 0 && xs[3] % vec == 0 &&
           reinterpret_cast<std::uintptr_t>(p.x) % 16 == 0 && (xs[2] == p.shape[3] * xs[3] || p.shape[2] == 1) &&
           mask_flat;
  }
};

}  // namespace fusekit
#endif
