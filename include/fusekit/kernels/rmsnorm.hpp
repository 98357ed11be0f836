#pragma once
// GPU RMSNorm. One block per row.
//  vectorized: 16-byte loads and stores, the row kept in registers between the two passes, so every
//              byte crosses memory once (needs dense rows aligned to 16 bytes and cols % vec == 0).
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

inline constexpr int rmsnorm_block = 256;

template <class T, class W, int kVec, int kIters, bool kResidual>
FUSEKIT_GLOBAL void __launch_bounds__(rmsnorm_block) rmsnorm_vectorized(RmsNormParams<T, W> p) {
  using V = Vec<T, kVec>;
  const index_t row = blockIdx.x;
  const auto* x = reinterpret_cast<const V*>(p.x.row(row));
  float v[kIters][kVec];  // (iter, lane-element): this thread's slice of the row
  float ss = 0.f;
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * rmsnorm_block + threadIdx.x;  // vector index
    if (c * kVec < p.cols) {
      V a = x[c];
      if constexpr (kResidual) {
        const V b = reinterpret_cast<const V*>(p.residual.row(row))[c];
        FUSEKIT_UNROLL
        for (int k = 0; k < kVec; ++k) a.v[k] = convert<T>(to_float(a.v[k]) + to_float(b.v[k]));
        reinterpret_cast<V*>(p.residual_out.row(row))[c] = a;
      }
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) {
        v[it][k] = to_float(a.v[k]);
        ss += v[it][k] * v[it][k];
      }
    }
  }
  const float scale = rsqrtf(gpu::BlockSum<rmsnorm_block>::all(ss) / static_cast<float>(p.cols) + p.eps);
  auto* out = reinterpret_cast<V*>(p.out.row(row));
  FUSEKIT_UNROLL
  for (int it = 0; it < kIters; ++it) {
    const index_t c = static_cast<index_t>(it) * rmsnorm_block + threadIdx.x;
    if (c * kVec < p.cols) {
      V y;
      FUSEKIT_UNROLL
      for (int k = 0; k < kVec; ++k) {
        const float w = to_float(p.weight[(c * kVec + k) * p.weight_stride]) + p.weight_offset;
        y.v[k] = convert<T>(v[it][k] * scale * w);
      }
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
  template <class T, class W>
  static void run(const hip::Stream& s, const RmsNormParams<T, W>& p, const RmsNormOptions& opt) {
    constexpr int vec = 16 / sizeof(T);
    constexpr int max_iters = 8;
    const bool fits = vectorizable(p, vec) && p.cols <= index_t{kernels::rmsnorm_block} * vec * max_iters;
    FUSEKIT_CHECK(opt.path != KernelPath::vectorized || fits,
                  "rmsnorm: the vectorized GPU path was forced but needs dense 16-byte aligned rows with cols "
                  "({}) a multiple of {} and at most {}",
                  p.cols, vec, kernels::rmsnorm_block * vec * max_iters);
    const bool residual = p.residual.data != nullptr;
    const dim3 grid(static_cast<unsigned>(p.rows)), block(kernels::rmsnorm_block);
    if (fits && opt.path != KernelPath::generic) {
      const index_t vectors = p.cols / vec;
      const index_t iters = (vectors + kernels::rmsnorm_block - 1) / kernels::rmsnorm_block;
      if (iters <= 1) launch_vec<T, W, vec, 1>(s, p, residual, grid, block);
      else if (iters <= 2) launch_vec<T, W, vec, 2>(s, p, residual, grid, block);
      else if (iters <= 4) launch_vec<T, W, vec, 4>(s, p, residual, grid, block);
      else launch_vec<T, W, vec, 8>(s, p, residual, grid, block);
    } else if (residual) {
      hip::launch("rmsnorm_generic<residual>", kernels::rmsnorm_generic<T, W, true>, grid, block, 0, s, p);
    } else {
      hip::launch("rmsnorm_generic", kernels::rmsnorm_generic<T, W, false>, grid, block, 0, s, p);
    }
  }

 private:
  template <class T, class W, int kVec, int kIters>
  static void launch_vec(const hip::Stream& s, const RmsNormParams<T, W>& p, bool residual, dim3 grid, dim3 block) {
    if (residual)
      hip::launch("rmsnorm_vectorized<residual>", kernels::rmsnorm_vectorized<T, W, kVec, kIters, true>, grid, block,
                  0, s, p);
    else
      hip::launch("rmsnorm_vectorized", kernels::rmsnorm_vectorized<T, W, kVec, kIters, false>, grid, block, 0, s, p);
  }

  template <class U>
  static bool dense_aligned(const MatrixRef<U>& m, int vec) {
    return m.col_stride == 1 && m.row_stride % vec == 0 && reinterpret_cast<std::uintptr_t>(m.data) % 16 == 0;
  }
  template <class T, class W>
  static bool vectorizable(const RmsNormParams<T, W>& p, int vec) {
    const bool res = p.residual.data == nullptr || (dense_aligned(p.residual, vec) && dense_aligned(p.residual_out, vec));
    return p.cols % vec == 0 && dense_aligned(p.x, vec) && dense_aligned(p.out, vec) && res;
  }
};

}  // namespace fusekit
#endif
