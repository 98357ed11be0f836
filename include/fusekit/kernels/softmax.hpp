#pragma once
// GPU softmax / log-softmax over rows. A "group" (one warp for short rows, one block otherwise) owns a
// row and keeps its logits in registers (kIters per thread) between the max, the sum and the store, so
// x is read once; rows longer than a group can hold take the generic kernel, which re-reads x (from L2).
#include <limits>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/softmax_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

inline constexpr int softmax_warps_per_block = 4;

template <int kIters, class T, class M, std::size_t L, class RMax, class RSum>
FUSEKIT_DEVICE inline void softmax_row(const SoftmaxParams<T, M, L>& p, index_t row, int t, int n, RMax rmax, RSum rsum) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const T* xr = p.x.row(row, p.lead_shape);
  const M* mr = p.mask.data ? p.mask.row(row, p.lead_shape) : nullptr;
  T* out = p.out.row(row, p.lead_shape);
  float z[kIters];
  float m = -inf;
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * n + t;
    z[it] = c < p.cols ? p.logit(xr, mr, c) : -inf;
    m = gpu::gpu_max_float{}(m, z[it]);
  }
  m = rmax(m);
  if (m == -inf) {  // fully masked row (uniform across the group)
    for (index_t c = t; c < p.cols; c += n) out[c * p.out.col] = convert<T>(p.log ? -inf : 0.f);
    return;
  }
  float s = 0.f;
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) s += expf(z[it] - m);  // padding lanes: exp(-inf) = 0
  s = rsum(s);
  const float inv = 1.f / s, log_sum = logf(s);
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * n + t;
    if (c < p.cols) out[c * p.out.col] = convert<T>(p.log ? (z[it] - m) - log_sum : expf(z[it] - m) * inv);
  }
}

template <int kIters, class T, class M, std::size_t L>
FUSEKIT_GLOBAL void softmax_warp_rows(SoftmaxParams<T, M, L> p) {
  constexpr int lanes = gpu::warp_size();
  const index_t row = static_cast<index_t>(blockIdx.x) * softmax_warps_per_block + threadIdx.x / lanes;
  if (row >= p.rows) return;  // whole warps leave together
  softmax_row<kIters>(p, row, threadIdx.x % lanes, lanes, [](float v) { return gpu::warp_max(v); },
                      [](float v) { return gpu::warp_sum(v); });
}

template <int kBlock, int kIters, class T, class M, std::size_t L>
FUSEKIT_GLOBAL void __launch_bounds__(kBlock) softmax_block_rows(SoftmaxParams<T, M, L> p) {
  softmax_row<kIters>(p, blockIdx.x, threadIdx.x, kBlock, [](float v) { return gpu::BlockMax<kBlock>::all(v); },
                      [](float v) { return gpu::BlockSum<kBlock>::all(v); });
}

template <class T, class M, std::size_t L>
FUSEKIT_GLOBAL void __launch_bounds__(256) softmax_generic(SoftmaxParams<T, M, L> p) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  const index_t row = blockIdx.x;
  const T* xr = p.x.row(row, p.lead_shape);
  const M* mr = p.mask.data ? p.mask.row(row, p.lead_shape) : nullptr;
  T* out = p.out.row(row, p.lead_shape);
  float m = -inf;
  for (index_t c = threadIdx.x; c < p.cols; c += 256) m = gpu::gpu_max_float{}(m, p.logit(xr, mr, c));
  m = gpu::BlockMax<256>::all(m);
  if (m == -inf) {
    for (index_t c = threadIdx.x; c < p.cols; c += 256) out[c * p.out.col] = convert<T>(p.log ? -inf : 0.f);
    return;
  }
  float s = 0.f;
  for (index_t c = threadIdx.x; c < p.cols; c += 256) s += expf(p.logit(xr, mr, c) - m);
  s = gpu::BlockSum<256>::all(s);
  const float inv = 1.f / s, log_sum = logf(s);
  // Each thread rewrites only the elements it read, so out may alias x.
  for (index_t c = threadIdx.x; c < p.cols; c += 256) {
    const float z = p.logit(xr, mr, c) - m;
    out[c * p.out.col] = convert<T>(p.log ? z - log_sum : expf(z) * inv);
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::Softmax, HipBackend> {
  template <class T, class M, std::size_t L>
  static void run(const hip::Stream& s, const SoftmaxParams<T, M, L>& p) {
    FUSEKIT_CHECK(p.rows <= index_t{0x7fffffff}, "softmax: {} rows exceed the GPU grid limit (2^31 - 1)", p.rows);
    const int warp = s.device().warp_size;
    const dim3 rows_grid(static_cast<unsigned>(p.rows));
    // One warp per row up to 16 values per lane. (Up to 32, so that 788-column attention rows take a warp
    // instead of a block, measured slower on H200: 45 us against 32 us at 6304x788 bf16.)
    if (p.cols <= index_t{16} * warp) {
      const dim3 grid(static_cast<unsigned>((p.rows + kernels::softmax_warps_per_block - 1) /
                                            kernels::softmax_warps_per_block));
      const dim3 block(static_cast<unsigned>(warp * kernels::softmax_warps_per_block));
      if (p.cols <= index_t{4} * warp)
        hip::launch("softmax(warp rows)", kernels::softmax_warp_rows<4, T, M, L>, grid, block, 0, s, p);
      else hip::launch("softmax(warp rows)", kernels::softmax_warp_rows<16, T, M, L>, grid, block, 0, s, p);
    } else if (p.cols <= 256 * 8) {
      hip::launch("softmax(block rows)", kernels::softmax_block_rows<256, 8, T, M, L>, rows_grid, dim3(256), 0, s, p);
    } else if (p.cols <= 1024 * 16) {
      hip::launch("softmax(block rows)", kernels::softmax_block_rows<1024, 16, T, M, L>, rows_grid, dim3(1024), 0, s, p);
    } else {
      hip::launch("softmax(generic)", kernels::softmax_generic<T, M, L>, rows_grid, dim3(256), 0, s, p);
    }
  }
};

}  // namespace fusekit
#endif
