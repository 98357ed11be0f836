#pragma once
// GPU softmax / log-softmax over rows. A "group" (one warp for short rows, one block otherwise) owns a
// row and keeps its logits in registers (kIters per thread) between the max, the sum and the store, so
// x is read once; rows longer than a group can hold take the generic kernel, which re-reads x (from L2).
// Dense rows whose starts are 8-byte aligned (x, out and a mask, each at its own width) move 8-byte
// vectors of kVec elements, each thread holding whole vectors; other layouts read element by element.
#include <limits>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/softmax_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

inline constexpr int softmax_warps_per_block = 4;

// Thread t of a group of n holds units t, t + n, ... (kIters of them) of its row: single elements at any
// strides (kVec == 1), or kVec-element vectors of a dense row. Every load is issued before the first use;
// exp(z - max) is kept for the store (softmax) instead of recomputed. Each thread rewrites only the units
// it read, so out may alias x.
template <int kVec, int kIters, class T, class M, std::size_t L, class RMax, class RSum>
FUSEKIT_DEVICE inline void softmax_row(const SoftmaxParams<T, M, L>& p, index_t row, int t, int n, RMax rmax,
                                       RSum rsum) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  using V = gpu::Vec<T, kVec>;
  using VM = gpu::Vec<M, kVec>;
  const int units = static_cast<int>(p.cols / kVec);  // the policy checks cols < 2^31
  auto here = [&](int it) { return it * n + t < units; };
  float z[kIters][kVec];
  float m = -inf;
  if constexpr (kVec == 1) {
    const T* xr = p.x.row(row, p.lead_shape);
    const M* mr = p.mask.data ? p.mask.row(row, p.lead_shape) : nullptr;
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it) z[it][0] = here(it) ? p.logit(xr, mr, it * n + t) : -inf;
  } else {
    const auto* xr = reinterpret_cast<const V*>(p.x.row(row, p.lead_shape));
    V xv[kIters];
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      if (here(it)) xv[it] = xr[it * n + t];
    if (p.mask.data) {
      const auto* mr = reinterpret_cast<const VM*>(p.mask.row(row, p.lead_shape));
      VM mv[kIters];
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        if (here(it)) mv[it] = mr[it * n + t];
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) z[it][k] = here(it) ? p.masked(xv[it].v[k], mv[it].v[k]) : -inf;
    } else {
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) z[it][k] = here(it) ? to_float(xv[it].v[k]) * p.scale : -inf;
    }
  }
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it)
    FUSEKIT_UNROLL
    for (int k = 0; k < kVec; ++k) m = gpu::gpu_max_float{}(m, z[it][k]);
  m = rmax(m);
  T* out = p.out.row(row, p.lead_shape);
  auto store = [&](auto value) {
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      if (here(it)) {
        V y;
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) y.v[k] = convert<T>(value(z[it][k]));
        if constexpr (kVec == 1) out[static_cast<index_t>(it * n + t) * p.out.col] = y.v[0];
        else reinterpret_cast<V*>(out)[it * n + t] = y;
      }
  };
  if (m == -inf) {  // fully masked row (uniform across the group)
    store([&](float) { return p.log ? -inf : 0.f; });
    return;
  }
  float s = 0.f;
  if (p.log) {
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) s += expf(z[it][k] - m);  // padding: exp(-inf) = 0
    const float shift = m + logf(rsum(s));
    store([&](float zi) { return zi - shift; });
  } else {
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) {
        z[it][k] = expf(z[it][k] - m);
        s += z[it][k];
      }
    const float inv = 1.f / rsum(s);
    store([&](float e) { return e * inv; });
  }
}

template <int kVec, int kIters, class Group, class T, class M, std::size_t L>
FUSEKIT_DEVICE inline void softmax_group_row(const SoftmaxParams<T, M, L>& p, index_t row, int t, int n) {
  softmax_row<kVec, kIters>(p, row, t, n, [](float v) { return Group::max(v); },
                            [](float v) { return Group::sum(v); });
}

template <int kVec, int kIters, class T, class M, std::size_t L>
FUSEKIT_GLOBAL void softmax_warp_rows(SoftmaxParams<T, M, L> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
  constexpr int lanes = gpu::warp_size();
  const index_t row = static_cast<index_t>(blockIdx.x) * softmax_warps_per_block + threadIdx.x / lanes;
  if (row >= p.rows) return;  // whole warps leave together
  softmax_group_row<kVec, kIters, gpu::WarpGroup>(p, row, static_cast<int>(threadIdx.x % lanes), lanes);
}

template <int kVec, int kBlock, int kIters, class T, class M, std::size_t L>
FUSEKIT_GLOBAL void __launch_bounds__(kBlock) softmax_block_rows(SoftmaxParams<T, M, L> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
  softmax_group_row<kVec, kIters, gpu::BlockGroup<kBlock>>(p, blockIdx.x, static_cast<int>(threadIdx.x), kBlock);
}

template <class T, class M, std::size_t L>
FUSEKIT_GLOBAL void __launch_bounds__(256) softmax_generic(SoftmaxParams<T, M, L> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
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

// Kernel choice (the policy), per row of `cols` elements, in units of a row's vectors (v = cols / kVec):
//   vectorizable (x, out and the mask dense with 8-byte aligned rows, cols % kVec == 0):
//     v <= 8 * warp: one warp per row, 2, 4 or 8 vectors per lane; else v <= 4 * 256: a block of 256
//     threads, v <= 4 * 1024: of 1024 threads, 4 vectors each
//   otherwise element by element: one warp per row up to 16 values per lane, then a block of 256 x 8 or
//   1024 x 16, then the generic kernel.
// Every kernel is launched dependent (hip::launch_dependent, see kernels/norm.hpp).
// p.threads_per_row forces the group (a warp, 256 or 1024 threads), or fails where it cannot hold the row.
template <>
struct OpImpl<op::Softmax, HipBackend> {
  template <class T, class M, std::size_t L>
  static void run(const hip::Stream& s, const SoftmaxParams<T, M, L>& p) {
    const char* name = p.log ? "log_softmax" : "softmax";
    FUSEKIT_CHECK(p.rows <= index_t{0x7fffffff}, "{}: {} rows exceed the GPU grid limit (2^31 - 1)", name, p.rows);
    FUSEKIT_CHECK(p.cols <= index_t{0x7fffffff}, "{}: rows of {} elements exceed the GPU limit (2^31 - 1)", name, p.cols);
    const int warp = s.device().warp_size;
    const int forced = p.threads_per_row;
    FUSEKIT_CHECK(forced == 0 || forced == warp || forced == 256 || forced == 1024,
                  "{}: threads_per_row must be 0, the warp size ({}), 256 or 1024 (got {})", name, warp, forced);
    constexpr int vec = 8 / sizeof(T);
    const bool vectorizable = p.cols % vec == 0 && p.x.vectorizable(vec, p.lead_shape) &&
                              p.out.vectorizable(vec, p.lead_shape) &&
                              (!p.mask.data || p.mask.vectorizable(vec, p.lead_shape));
    const index_t v = vectorizable ? p.cols / vec : p.cols;  // what a thread's iteration moves
    auto can = [&](int group, index_t max_iters) { return (forced == 0 || forced == group) && v <= max_iters * group; };
    const dim3 warp_grid(static_cast<unsigned>((p.rows + kernels::softmax_warps_per_block - 1) /
                                               kernels::softmax_warps_per_block));
    const dim3 warp_block(static_cast<unsigned>(warp * kernels::softmax_warps_per_block));
    const dim3 rows_grid(static_cast<unsigned>(p.rows));
    using namespace kernels;
    if (vectorizable) {
      if (can(warp, 2)) hip::launch_dependent(name, softmax_warp_rows<vec, 2, T, M, L>, warp_grid, warp_block, 0, s, p);
      else if (can(warp, 4)) hip::launch_dependent(name, softmax_warp_rows<vec, 4, T, M, L>, warp_grid, warp_block, 0, s, p);
      else if (can(warp, 8)) hip::launch_dependent(name, softmax_warp_rows<vec, 8, T, M, L>, warp_grid, warp_block, 0, s, p);
      else if (can(256, 4)) hip::launch_dependent(name, softmax_block_rows<vec, 256, 4, T, M, L>, rows_grid, dim3(256), 0, s, p);
      else if (can(1024, 4)) hip::launch_dependent(name, softmax_block_rows<vec, 1024, 4, T, M, L>, rows_grid, dim3(1024), 0, s, p);
      else if (forced == 0) hip::launch_dependent(name, softmax_generic<T, M, L>, rows_grid, dim3(256), 0, s, p);
      else fail("{}: {} threads per row cannot hold rows of {} elements", name, forced, p.cols);
      return;
    }
    // One warp per row up to 16 values per lane. (Up to 32, so that 788-column attention rows take a warp
    // instead of a block, measured slower on H200: 45 us against 32 us at 6304x788 bf16, element by element.)
    if (can(warp, 4)) hip::launch_dependent(name, softmax_warp_rows<1, 4, T, M, L>, warp_grid, warp_block, 0, s, p);
    else if (can(warp, 16)) hip::launch_dependent(name, softmax_warp_rows<1, 16, T, M, L>, warp_grid, warp_block, 0, s, p);
    else if (can(256, 8)) hip::launch_dependent(name, softmax_block_rows<1, 256, 8, T, M, L>, rows_grid, dim3(256), 0, s, p);
    else if (can(1024, 16)) hip::launch_dependent(name, softmax_block_rows<1, 1024, 16, T, M, L>, rows_grid, dim3(1024), 0, s, p);
    else if (forced == 0) hip::launch_dependent(name, softmax_generic<T, M, L>, rows_grid, dim3(256), 0, s, p);
    else fail("{}: {} threads per row cannot hold rows of {} elements", name, forced, p.cols);
  }
};

}  // namespace fusekit
#endif
