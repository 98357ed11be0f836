#pragma once
// GPU RMSNorm and LayerNorm (one set of kernels, kLayer picks the statistics). Three kernels (the policy
// that picks one is at the bottom):
//  warp rows:  one warp per short row, shuffle reduction, no block barrier.
//  vectorized: one block per row; 16-byte streaming loads and stores, the row kept in registers between
//              the statistics and the scaling, so every byte crosses memory once. Needs dense rows
//              aligned to 16 bytes, a dense weight aligned to its vector, and cols % vec == 0.
//  generic:    any strides and alignment; the second pass re-reads the row (from L2 in practice).
// All are launched dependent (hip::launch_dependent): on sm_90 a kernel is scheduled while the previous
// one finishes, waits for it before its first memory access, and lets the next one be scheduled once its
// loads are issued (the launch gap is most of a short row kernel's time beyond its bytes).
#include <algorithm>

#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/norm_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

using gpu::Vec;

inline constexpr int norm_block = 256;          // threads of the generic kernel
inline constexpr int norm_warps_per_block = 4;  // rows per block of the warp-per-row kernel

// The row-in-registers pipeline shared by the vectorized kernels. A "group" (a warp or a block) owns a
// row; thread `t` of `n` holds vectors t, t + n, ... (kIters of them) in a RowSlice.
//   load:   x and the residual, every load issued before the first use; LayerNorm's weight and bias too
//   finish: s = round_T(x + r) stored to residual_out; RMSNorm: sum of squares -> Group::sum -> scale;
//           LayerNorm: sums of d and d^2, d = s - k with k = x[row][0] (shifted data), in one reduction
//           -> mean, variance -> scale; y = (s - mean) * scale * (w + offset) [+ b].
// LayerNorm's shifted sums: var = E[d^2] - E[d]^2 loses about eps_f32 * (1 + E[d]^2 / var) of var to
// cancellation, and the mean about eps_f32 * |E[d]|. The shift is one of the row's own values, so
// E[d]^2 <= cols * var in every case, and in practice it is small. Where it is not (E[d]^2 > 64 var: a
// shift far out in its row) the group sums again, shifted by the mean it now knows, and corrects both the
// mean and the variance (a group-uniform branch: every thread holds the same sums). So the result is as
// accurate as a two-pass one, at the cost of one reduction of two floats: on H100, 768 x 1152 bf16, a
// Chan/Welford merge of (count, mean, M2) took 3.3-3.6 us, two reductions (sum, then squares about the
// mean) 2.73 us, the shifted sums 2.64 us, a bare copy kernel of the same shape 2.30 us
// (bench/experiments/ops_floor.cu).
// RMSNorm reads its weight after the reduction, from L1/L2: holding it in registers from the start
// measured slower on H200 at 6304 rows (fewer rows in flight). LayerNorm serves SigLIP, whose 768 rows
// are all resident at once; there the weight and bias loads sat on the critical path after the
// reduction, so they are issued with x (up to two vectors per thread: more would spill at 1024 threads).
// kFull: the group's vectors cover the row exactly (cols == kIters * n * kVec), so no lane checks bounds.
// Blocks of this kernel live for about one load round trip, so their first instructions count: bounds
// branches around the loads cost 3.5% on H200 (6304x2048 bf16 + residual: 28.2 against 27.2 us), and
// index math is 32-bit (the policy checks cols < 2^31).
template <class T, class W, int kVec, int kIters, bool kResidual, bool kLayer, bool kFull>
struct RowSlice {
  using V = Vec<T, kVec>;
  using VW = Vec<W, kVec>;
  V a[kIters];                      // (iter): x
  V b[kResidual ? kIters : 1];      // (iter): residual
  static constexpr bool kEarly = kLayer && kIters <= 2;  // LayerNorm's weight and bias loaded with x
  VW w[kEarly ? kIters : 1];        // (iter): LayerNorm's weight
  VW bias[kEarly ? kIters : 1];     // (iter): LayerNorm's bias
  float shift = 0.f;                // LayerNorm: the row's first x (the same for every thread of the group)

  FUSEKIT_DEVICE static bool here(const NormParams<T, W>& p, int it, int t, int n) {
    return kFull || (it * n + t) * kVec < static_cast<int>(p.cols);
  }

  FUSEKIT_DEVICE void load(const NormParams<T, W>& p, index_t row, int t, int n) {
    const auto* x = reinterpret_cast<const V*>(p.x.row(row));
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      if (here(p, it, t, n)) a[it] = gpu::load_streaming(x + it * n + t);
    if constexpr (kResidual) {
      const auto* r = reinterpret_cast<const V*>(p.residual.row(row));
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        if (here(p, it, t, n)) b[it] = gpu::load_streaming(r + it * n + t);
    }
    if constexpr (kLayer) shift = to_float(p.x.row(row)[0]);
    if constexpr (kEarly) {
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        if (here(p, it, t, n)) {
          w[it] = reinterpret_cast<const VW*>(p.weight)[it * n + t];
          bias[it] = reinterpret_cast<const VW*>(p.bias)[it * n + t];
        }
    }
  }

  template <class Group>
  FUSEKIT_DEVICE void finish(const NormParams<T, W>& p, index_t row, int t, int n) {
    auto here = [&](int it) { return RowSlice::here(p, it, t, n); };
    if constexpr (kResidual) {
      auto* so = reinterpret_cast<V*>(p.residual_out.row(row));
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        if (here(it)) {
          FUSEKIT_UNROLL
          for (int k = 0; k < kVec; ++k) a[it].v[k] = convert<T>(to_float(a[it].v[k]) + to_float(b[it].v[k]));
          gpu::store_streaming(so + it * n + t, a[it]);
        }
    }
    // sums of x - k and of its square over this thread's elements (RMSNorm: k = 0, the square alone)
    auto shifted_sums = [&](float k) {
      float2 d{0.f, 0.f};
      FUSEKIT_UNROLL
      for (int it = 0; it < kIters; ++it)
        if (here(it)) {
          FUSEKIT_UNROLL
          for (int e = 0; e < kVec; ++e) {
            const float v = to_float(a[it].v[e]) - k;
            d.x += v;
            d.y += v * v;
          }
        }
      return d;
    };
    float mean = 0.f, scale;  // every thread of the group takes part in the reduction
    if constexpr (kLayer) {
      const float2 d = Group::sum2(shifted_sums(shift));
      const float inv_n = 1.f / static_cast<float>(p.cols);
      const float m = d.x * inv_n;  // mean - shift
      mean = shift + m;
      float var = d.y * inv_n - m * m;
      if (m * m > 64.f * var) {  // the shift was far out: shift again, by the mean now known
        const float2 e = Group::sum2(shifted_sums(mean), 1);
        const float c = e.x * inv_n;  // the first mean's error, small now against the spread
        mean += c;
        var = e.y * inv_n - c * c;
      }
      scale = rsqrtf(fmaxf(var, 0.f) + p.eps);
    } else {
      scale = rsqrtf(Group::sum(shifted_sums(0.f).y) / static_cast<float>(p.cols) + p.eps);
    }
    auto* out = reinterpret_cast<V*>(p.out.row(row));
    const auto* wv = reinterpret_cast<const VW*>(p.weight);
    FUSEKIT_UNROLL
    for (int it = 0; it < kIters; ++it)
      if (here(it)) {
        VW wi, bi;
        if constexpr (kEarly) wi = w[it], bi = bias[it];
        else if (wv) wi = wv[it * n + t];  // (RMSNorm without a weight: the factor is 1)
        if constexpr (kLayer && !kEarly) bi = reinterpret_cast<const VW*>(p.bias)[it * n + t];
        V y;
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) {
          const float f = kLayer || wv ? to_float(wi.v[k]) + p.weight_offset : 1.f;
          float v = (to_float(a[it].v[k]) - mean) * scale * f;
          if constexpr (kLayer) v += to_float(bi.v[k]);
          y.v[k] = convert<T>(v);
        }
        gpu::store_streaming(out + it * n + t, y);
      }
  }
};

// One warp per row (short rows): shuffle reduction, no block barrier.
template <class T, class W, int kVec, int kIters, bool kResidual, bool kLayer>
FUSEKIT_GLOBAL void __launch_bounds__(256) norm_warp_rows(NormParams<T, W> p) {
  constexpr int lanes = gpu::warp_size();
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  const index_t row = static_cast<index_t>(blockIdx.x) * norm_warps_per_block + threadIdx.x / lanes;
  if (row >= p.rows) return;  // whole warps leave together
  RowSlice<T, W, kVec, kIters, kResidual, kLayer, false> slice;
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  slice.load(p, row, lane, lanes);
  gpu::allow_dependent_launch();
  slice.template finish<gpu::WarpGroup>(p, row, lane, lanes);
}

// One block of kBlock threads per row. (Several rows per block, reduced per group of threads, measured
// slower on H200 for 2048-wide rows: 32.5 us with 4 rows of 256 threads against 29.7 us.)
template <class T, class W, int kVec, int kIters, int kBlock, bool kResidual, bool kLayer, bool kFull = false>
FUSEKIT_GLOBAL void __launch_bounds__(kBlock) norm_vectorized(NormParams<T, W> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  RowSlice<T, W, kVec, kIters, kResidual, kLayer, kFull> slice;
  const int t = static_cast<int>(threadIdx.x);
  slice.load(p, blockIdx.x, t, kBlock);
  gpu::allow_dependent_launch();
  slice.template finish<gpu::BlockGroup<kBlock>>(p, blockIdx.x, t, kBlock);
}

template <class T, class W, bool kResidual, bool kLayer>
FUSEKIT_GLOBAL void __launch_bounds__(norm_block) norm_generic(NormParams<T, W> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  const index_t row = blockIdx.x;
  // Each thread re-reads only elements it wrote itself, so in-place use (out == x) is safe.
  auto value = [&](index_t c) {
    return kResidual ? to_float(static_cast<T>(p.residual_out(row, c))) : to_float(p.x(row, c));
  };
  if constexpr (kResidual)
    for (index_t c = threadIdx.x; c < p.cols; c += norm_block)
      p.residual_out(row, c) = convert<T>(to_float(p.x(row, c)) + to_float(p.residual(row, c)));
  float mean = 0.f;
  if constexpr (kLayer) {
    float sum = 0.f;
    for (index_t c = threadIdx.x; c < p.cols; c += norm_block) sum += value(c);
    mean = gpu::BlockSum<norm_block>::all(sum, 1) / static_cast<float>(p.cols);
  }
  float ss = 0.f;
  for (index_t c = threadIdx.x; c < p.cols; c += norm_block) {
    const float d = value(c) - mean;
    ss += d * d;
  }
  const float scale = rsqrtf(gpu::BlockSum<norm_block>::all(ss, 0) / static_cast<float>(p.cols) + p.eps);
  for (index_t c = threadIdx.x; c < p.cols; c += norm_block) {
    float y = (value(c) - mean) * scale * (p.weight ? to_float(p.weight[c * p.weight_stride]) + p.weight_offset : 1.f);
    if constexpr (kLayer) y += to_float(p.bias[c * p.bias_stride]);
    p.out(row, c) = convert<T>(y);
  }
}

}  // namespace kernels

// Kernel choice (the policy). Rows of v = cols / vec 16-byte vectors:
//   v <= 2 * warp          one warp per row, 1-2 vectors per lane
//   v <= 1024              one block per row, the smallest of 128/256/512/1024 threads with one vector each
//   v <= 8192              one block of 1024 threads, 2-8 vectors each
//   otherwise, or strided / unaligned / cols % vec != 0: the generic kernel
// opt.block forces the block kernel with that many threads; opt.path forces a kernel.
namespace kernels {
template <bool kLayer>
struct RowNorm {
  template <class T, class W>
  static void run(const hip::Stream& s, const NormParams<T, W>& p, const KernelChoice& opt) {
    constexpr int vec = 16 / sizeof(T);
    constexpr const char* name = kLayer ? "layernorm" : "rmsnorm";
    FUSEKIT_CHECK(p.rows <= index_t{0x7fffffff}, "{}: {} rows exceed the GPU grid limit (2^31 - 1)", name, p.rows);
    FUSEKIT_CHECK(p.cols <= index_t{0x7fffffff}, "{}: rows of {} elements exceed the GPU limit (2^31 - 1)", name, p.cols);
    const index_t v = p.cols / vec;
    const int warp = s.device().warp_size;  // the device's: the host pass cannot know it
    int block = opt.block;
    // One vector per thread where a block can hold the row. Measured on H200 for 2048-wide bf16 rows
    // (docs/performance.md): 256 threads x 1 vector beat 128 x 2, several rows per block, and persistent
    // blocks that prefetch the next row.
    if (block == 0) {
      block = v <= 128 ? 128 : v <= 256 ? 256 : v <= 512 ? 512 : 1024;
      // A row filling less than 3/4 of its block takes half the block with two vectors per thread: idle
      // threads still hold registers, and fewer blocks fit on an SM (LayerNorm 768x1152 bf16 on H100:
      // 144 vectors in blocks of 256 ran in two waves, 6.69 us, against 3.76 us in blocks of 128).
      if (block > 128 && 4 * v < 3 * index_t{block}) block /= 2;
    }
    FUSEKIT_CHECK(block == 128 || block == 256 || block == 512 || block == 1024,
                  "{}: block size must be 128, 256, 512 or 1024 (got {})", name, block);
    const index_t iters = (v + block - 1) / block;
    const bool vectorizable = aligned_for_vectors(p, vec);
    const bool fits = vectorizable && iters <= (block == 1024 ? 8 : 2);
    const bool warp_rows = vectorizable && opt.block == 0 && v <= 2 * warp;
    FUSEKIT_CHECK(opt.path != KernelPath::vectorized || fits || warp_rows,
                  "{}: the vectorized GPU path was forced but needs dense 16-byte aligned rows, weight and bias, "
                  "with cols ({}) a multiple of {} and at most {} for a block of {}",
                  name, p.cols, vec, index_t{block} * vec * (block == 1024 ? 8 : 2), block);
    const bool residual = p.residual.data != nullptr;
    if (opt.path != KernelPath::generic && warp_rows) {
      const dim3 grid(static_cast<unsigned>((p.rows + norm_warps_per_block - 1) /
                                            norm_warps_per_block));
      const dim3 threads(static_cast<unsigned>(warp * norm_warps_per_block));
      if (v <= warp) launch(s, residual, grid, threads, norm_warp_rows<T, W, vec, 1, true, kLayer>,
                            norm_warp_rows<T, W, vec, 1, false, kLayer>, p);
      else launch(s, residual, grid, threads, norm_warp_rows<T, W, vec, 2, true, kLayer>,
                  norm_warp_rows<T, W, vec, 2, false, kLayer>, p);
    } else if (opt.path != KernelPath::generic && fits) {
      const dim3 grid(static_cast<unsigned>(p.rows));
      switch (block) {
        case 128: by_iters<T, W, vec, 128, 2>(s, residual, grid, iters, p); break;
        case 256: by_iters<T, W, vec, 256, 2>(s, residual, grid, iters, p); break;
        case 512: by_iters<T, W, vec, 512, 2>(s, residual, grid, iters, p); break;
        default: by_iters<T, W, vec, 1024, 8>(s, residual, grid, iters, p); break;
      }
    } else {
      launch(s, residual, dim3(static_cast<unsigned>(p.rows)), dim3(norm_block),
             norm_generic<T, W, true, kLayer>, norm_generic<T, W, false, kLayer>, p);
    }
  }

 private:
  template <class K, class T, class W>
  static void launch(const hip::Stream& s, bool residual, dim3 grid, dim3 block, K with_residual, K without,
                     const NormParams<T, W>& p) {
    if (residual) hip::launch_dependent(kLayer ? "layernorm<residual>" : "rmsnorm<residual>", with_residual, grid, block, 0, s, p);
    else hip::launch_dependent(kLayer ? "layernorm" : "rmsnorm", without, grid, block, 0, s, p);
  }

  template <class T, class W, int kVec, int kBlock, int kMaxIters>
  static void by_iters(const hip::Stream& s, bool residual, dim3 grid, index_t iters, const NormParams<T, W>& p) {
    const dim3 threads(kBlock);
    // One vector per thread covering the row exactly (power-of-two widths: 1024, 2048, 4096 bf16...):
    // the kernel without bounds checks.
    if (iters <= 1 && p.cols == index_t{kBlock} * kVec)
      launch(s, residual, grid, threads, norm_vectorized<T, W, kVec, 1, kBlock, true, kLayer, true>,
             norm_vectorized<T, W, kVec, 1, kBlock, false, kLayer, true>, p);
    else if (iters <= 1) launch(s, residual, grid, threads, norm_vectorized<T, W, kVec, 1, kBlock, true, kLayer>,
                                norm_vectorized<T, W, kVec, 1, kBlock, false, kLayer>, p);
    else if (iters <= 2) launch(s, residual, grid, threads, norm_vectorized<T, W, kVec, 2, kBlock, true, kLayer>,
                                norm_vectorized<T, W, kVec, 2, kBlock, false, kLayer>, p);
    else if constexpr (kMaxIters >= 8) {
      if (iters <= 4) launch(s, residual, grid, threads, norm_vectorized<T, W, kVec, 4, kBlock, true, kLayer>,
                             norm_vectorized<T, W, kVec, 4, kBlock, false, kLayer>, p);
      else launch(s, residual, grid, threads, norm_vectorized<T, W, kVec, 8, kBlock, true, kLayer>,
                  norm_vectorized<T, W, kVec, 8, kBlock, false, kLayer>, p);
    }
  }

  template <class U>
  static bool dense_aligned(const MatrixRef<U>& m, int vec) {
    return m.col_stride == 1 && m.row_stride % vec == 0 && reinterpret_cast<std::uintptr_t>(m.data) % 16 == 0;
  }
  template <class T, class W>
  static bool aligned_for_vectors(const NormParams<T, W>& p, int vec) {
    const bool res = p.residual.data == nullptr || (dense_aligned(p.residual, vec) && dense_aligned(p.residual_out, vec));
    auto vector_ok = [&](const W* q, index_t stride) {
      return stride == 1 && reinterpret_cast<std::uintptr_t>(q) % (sizeof(W) * vec) == 0;
    };
    const bool params = (!p.weight || vector_ok(p.weight, p.weight_stride)) && (!kLayer || vector_ok(p.bias, p.bias_stride));
    return p.cols % vec == 0 && p.cols > 0 && dense_aligned(p.x, vec) && dense_aligned(p.out, vec) && res && params;
  }
};
}  // namespace kernels

template <>
struct OpImpl<op::RmsNorm, HipBackend> : kernels::RowNorm<false> {};
template <>
struct OpImpl<op::LayerNorm, HipBackend> : kernels::RowNorm<true> {};

}  // namespace fusekit
#endif
