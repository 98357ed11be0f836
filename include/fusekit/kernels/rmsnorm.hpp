#pragma once
// GPU RMSNorm.
//  warp rows:  one warp per row for short rows (Gemma's 2048, SigLIP's 1152), shuffle reduction.
//  vectorized: 16-byte loads and stores, the row kept in registers between the two passes, so every
//              byte crosses memory once (needs dense rows aligned to 16 bytes, a dense weight aligned to
//              its vector, and cols % vec == 0).
//  generic:    any strides and alignment; the second pass re-reads the row (from L2 in practice).
#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/rmsnorm_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

template <class T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

inline constexpr int rmsnorm_block = 256;  // threads of the generic kernel

// kBlock threads per row; each owns kIters vectors of kVec elements, kept in registers.
template <class T, class W, int kVec, int kIters, int kBlock, bool kResidual>
FUSEKIT_GLOBAL void __launch_bounds__(kBlock) rmsnorm_vectorized(RmsNormParams<T, W> p) {
  using V = Vec<T, kVec>;
  using VW = Vec<W, kVec>;
  const index_t row = blockIdx.x;
  const auto* x = reinterpret_cast<const V*>(p.x.row(row));
  const auto* wv = reinterpret_cast<const VW*>(p.weight);
  V a[kIters];   // (iter): this thread's slice of the row
  VW w[kIters];  // weights for the same columns, loaded up front so their latency hides behind x's
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * kBlock + threadIdx.x;  // vector index
    if (c * kVec < p.cols) {
      a[it] = x[c];
      w[it] = wv[c];
    }
  }
  float ss = 0.f;
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * kBlock + threadIdx.x;
    if (c * kVec < p.cols) {
      if constexpr (kResidual) {
        const V b = reinterpret_cast<const V*>(p.residual.row(row))[c];
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) a[it].v[k] = convert<T>(to_float(a[it].v[k]) + to_float(b.v[k]));
        reinterpret_cast<V*>(p.residual_out.row(row))[c] = a[it];
      }
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) ss += to_float(a[it].v[k]) * to_float(a[it].v[k]);
    }
  }
  const float scale = rsqrtf(gpu::BlockSum<kBlock>::all(ss) / static_cast<float>(p.cols) + p.eps);
  auto* out = reinterpret_cast<V*>(p.out.row(row));
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * kBlock + threadIdx.x;
    if (c * kVec < p.cols) {
      V y;
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) y.v[k] = convert<T>(to_float(a[it].v[k]) * scale * (to_float(w[it].v[k]) + p.weight_offset));
      out[c] = y;
    }
  }
}

inline constexpr int rmsnorm_warps_per_block = 4;

// One warp per row, for rows of at most warp * kVec * 8 elements (4 KiB of bf16 on a 32-lane warp):
// every lane issues all its loads before the first use and the reduction is shuffles only, so many
// rows' bytes are in flight per SM and no block-wide barrier splits loading from storing.
template <class T, class W, int kVec, int kIters, bool kResidual>
FUSEKIT_GLOBAL void __launch_bounds__(256) rmsnorm_warp_rows(RmsNormParams<T, W> p) {
  using V = Vec<T, kVec>;
  using VW = Vec<W, kVec>;
  constexpr int lanes = gpu::warp_size();
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  const index_t row = static_cast<index_t>(blockIdx.x) * rmsnorm_warps_per_block + threadIdx.x / lanes;
  if (row >= p.rows) return;  // whole warps leave together: no barrier below
  const auto* x = reinterpret_cast<const V*>(p.x.row(row));
  V a[kIters];  // (iter): vectors lane, lane + lanes, ... of the row
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * lanes + lane;
    if (c * kVec < p.cols) a[it] = x[c];
  }
  if constexpr (kResidual) {
    const auto* r = reinterpret_cast<const V*>(p.residual.row(row));
    V b[kIters];
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it) {
      const index_t c = static_cast<index_t>(it) * lanes + lane;
      if (c * kVec < p.cols) b[it] = r[c];
    }
    auto* so = reinterpret_cast<V*>(p.residual_out.row(row));
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it) {
      const index_t c = static_cast<index_t>(it) * lanes + lane;
      if (c * kVec < p.cols) {
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) a[it].v[k] = convert<T>(to_float(a[it].v[k]) + to_float(b[it].v[k]));
        so[c] = a[it];
      }
    }
  }
  float ss = 0.f;
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * lanes + lane;
    if (c * kVec < p.cols) {
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) ss += to_float(a[it].v[k]) * to_float(a[it].v[k]);
    }
  }
  const float scale = rsqrtf(gpu::warp_sum(ss) / static_cast<float>(p.cols) + p.eps);
  auto* out = reinterpret_cast<V*>(p.out.row(row));
  const auto* wv = reinterpret_cast<const VW*>(p.weight);
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * lanes + lane;
    if (c * kVec < p.cols) {
      const VW w = wv[c];
      V y;
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) y.v[k] = convert<T>(to_float(a[it].v[k]) * scale * (to_float(w.v[k]) + p.weight_offset));
      out[c] = y;
    }
  }
}

template <class T, class W, bool kResidual>
FUSEKIT_GLOBAL void __launch_bounds__(rmsnorm_block) rmsnorm_generic(RmsNormParams<T, W> p) {
  const index_t row = blockIdx.x;
  float ss = 0.f;
  for (index_t c = threadIdx.x; c < p.cols; c += rmsnorm_block) {
    float v = to_float(p.x(row, c));
    if constexpr (kResidual) {
      const T s = convert<T>(v + to_float(p.residual(row, c)));
      p.residual_out(row, c) = s;
      v = to_float(s);
    }
    ss += v * v;
  }
  const float scale = rsqrtf(gpu::BlockSum<rmsnorm_block>::all(ss) / static_cast<float>(p.cols) + p.eps);
  for (index_t c = threadIdx.x; c < p.cols; c += rmsnorm_block) {
    // Each thread re-reads only elements it wrote itself, so in-place use (out == x) is safe.
    const float v = kResidual ? to_float(static_cast<T>(p.residual_out(row, c))) : to_float(p.x(row, c));
    const float w = to_float(p.weight[c * p.weight_stride]) + p.weight_offset;
    p.out(row, c) = convert<T>(v * scale * w);
  }
}

}  // namespace kernels

template <>
struct OpImpl<op::RmsNorm, HipBackend> {
  static constexpr int max_iters = 8;

  template <class T, class W>
  static void run(const hip::Stream& s, const RmsNormParams<T, W>& p, const RmsNormOptions& opt) {
    constexpr int vec = 16 / sizeof(T);
    // Policy: rows of up to warp * 16 B * 8 go one warp per row (opt.block == 0); longer rows (or an
    // explicit block size) one block per row, 128 threads up to 4 KiB rows, else 256.
    const int block = opt.block ? opt.block : (p.cols * static_cast<index_t>(sizeof(T)) <= 4096 ? 128 : 256);
    FUSEKIT_CHECK(block == 128 || block == 256, "rmsnorm: block size must be 128 or 256 (got {})", block);
    const bool fits = vectorizable(p, vec) && p.cols <= index_t{block} * vec * max_iters;
    FUSEKIT_CHECK(opt.path != KernelPath::vectorized || fits,
                  "rmsnorm: the vectorized GPU path was forced but needs dense 16-byte aligned rows and weight, with "
                  "cols ({}) a multiple of {} and at most {}",
                  p.cols, vec, block * vec * max_iters);
    const dim3 grid(static_cast<unsigned>(p.rows));
    const int warp = s.device().warp_size;  // the device's, not the host pass's guess
    const bool warp_fits = vectorizable(p, vec) && p.cols <= index_t{warp} * vec * max_iters;
    if (warp_fits && opt.path != KernelPath::generic && opt.block == 0) {
      const index_t iters = (p.cols / vec + warp - 1) / warp;
      const dim3 rows_grid(static_cast<unsigned>((p.rows + kernels::rmsnorm_warps_per_block - 1) /
                                                 kernels::rmsnorm_warps_per_block));
      const dim3 threads(static_cast<unsigned>(warp * kernels::rmsnorm_warps_per_block));
      if (iters <= 1) launch_rows<T, W, vec, 1>(s, p, rows_grid, threads);
      else if (iters <= 2) launch_rows<T, W, vec, 2>(s, p, rows_grid, threads);
      else if (iters <= 4) launch_rows<T, W, vec, 4>(s, p, rows_grid, threads);
      else launch_rows<T, W, vec, 8>(s, p, rows_grid, threads);
    } else if (fits && opt.path != KernelPath::generic) {
      const index_t iters = (p.cols / vec + block - 1) / block;
      if (block == 128) dispatch_iters<T, W, vec, 128>(s, p, iters, grid);
      else dispatch_iters<T, W, vec, 256>(s, p, iters, grid);
    } else if (p.residual.data) {
      hip::launch("rmsnorm_generic<residual>", kernels::rmsnorm_generic<T, W, true>, grid,
                  dim3(kernels::rmsnorm_block), 0, s, p);
    } else {
      hip::launch("rmsnorm_generic", kernels::rmsnorm_generic<T, W, false>, grid, dim3(kernels::rmsnorm_block), 0, s,
                  p);
    }
  }

 private:
  template <class T, class W, int kVec, int kIters>
  static void launch_rows(const hip::Stream& s, const RmsNormParams<T, W>& p, dim3 grid, dim3 threads) {
    if (p.residual.data)
      hip::launch("rmsnorm_warp_rows<residual>", kernels::rmsnorm_warp_rows<T, W, kVec, kIters, true>, grid, threads, 0,
                  s, p);
    else
      hip::launch("rmsnorm_warp_rows", kernels::rmsnorm_warp_rows<T, W, kVec, kIters, false>, grid, threads, 0, s, p);
  }

  template <class T, class W, int kVec, int kBlock>
  static void dispatch_iters(const hip::Stream& s, const RmsNormParams<T, W>& p, index_t iters, dim3 grid) {
    if (iters <= 1) launch_vec<T, W, kVec, 1, kBlock>(s, p, grid);
    else if (iters <= 2) launch_vec<T, W, kVec, 2, kBlock>(s, p, grid);
    else if (iters <= 4) launch_vec<T, W, kVec, 4, kBlock>(s, p, grid);
    else launch_vec<T, W, kVec, 8, kBlock>(s, p, grid);
  }

  template <class T, class W, int kVec, int kIters, int kBlock>
  static void launch_vec(const hip::Stream& s, const RmsNormParams<T, W>& p, dim3 grid) {
    if (p.residual.data)
      hip::launch("rmsnorm_vectorized<residual>", kernels::rmsnorm_vectorized<T, W, kVec, kIters, kBlock, true>, grid,
                  dim3(kBlock), 0, s, p);
    else
      hip::launch("rmsnorm_vectorized", kernels::rmsnorm_vectorized<T, W, kVec, kIters, kBlock, false>, grid,
                  dim3(kBlock), 0, s, p);
  }

  template <class U>
  static bool dense_aligned(const MatrixRef<U>& m, int vec) {
    return m.col_stride == 1 && m.row_stride % vec == 0 && reinterpret_cast<std::uintptr_t>(m.data) % 16 == 0;
  }
  template <class T, class W>
  static bool vectorizable(const RmsNormParams<T, W>& p, int vec) {
    const bool res = p.residual.data == nullptr || (dense_aligned(p.residual, vec) && dense_aligned(p.residual_out, vec));
    const bool weight = p.weight_stride == 1 && reinterpret_cast<std::uintptr_t>(p.weight) % (sizeof(W) * vec) == 0;
    return p.cols % vec == 0 && dense_aligned(p.x, vec) && dense_aligned(p.out, vec) && res && weight;
  }
};

}  // namespace fusekit
#endif
