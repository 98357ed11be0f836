#pragma once
// GPU GEMM for few rows (M <= 16: decode-time projections such as Pi0's 11 suffix tokens), where the
// weights are read once and the work is streaming them at memory bandwidth, not matrix-core math.
// One warp owns `skinny_cols` output columns: its lanes split K in 16-byte vectors of the weight rows
// (B = W^T with W [N, K] k-contiguous), each lane multiplies them with the same k-range of every A row
// (A rows are tiny and stay in L1/L2) in fp32, the warp sums by shuffles, and the lanes apply the
// epilogue (gated epilogues: the warp also owns each output column's gate and up columns).
// No shared memory, no split-K pass: the many warps of a wide N keep enough weight bytes in flight.
#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/gemm_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

inline constexpr int skinny_threads = 128;
inline constexpr int skinny_cols = 2;    // output columns per warp
inline constexpr int skinny_max_m = 16;  // rows: acc[16][...] per lane
inline constexpr int skinny_unroll = 4;  // 16-byte weight vectors per column loaded ahead by each lane

template <class T, class O, class Epi>
FUSEKIT_GLOBAL void __launch_bounds__(skinny_threads) gemm_skinny(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  using V = gpu::Vec<T, 8>;
  constexpr int lanes = gpu::warp_size();
  constexpr int kAcc = Epi::gated ? 2 * skinny_cols : skinny_cols;
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  const index_t j0 = (static_cast<index_t>(blockIdx.x) * (skinny_threads / lanes) + threadIdx.x / lanes) * skinny_cols;
  if (j0 >= p.n_out) return;  // whole warps leave
  const index_t bi = blockIdx.z;

  // The accumulator columns this warp owns (clamped at the right edge; those outputs are not stored).
  const T* w[kAcc];
  FUSEKIT_UNROLL
  for (int c = 0; c < skinny_cols; ++c) {
    const index_t j = j0 + c < p.n_out ? j0 + c : p.n_out - 1;
    if constexpr (Epi::gated) {
      const GateLayout layout = p.epi.gate_layout();
      w[c] = p.b.data + bi * p.b.batch_stride + p.gate_col(j, layout) * p.b.col_stride;
      w[skinny_cols + c] = p.b.data + bi * p.b.batch_stride + p.up_col(j, layout) * p.b.col_stride;
    } else {
      w[c] = p.b.data + bi * p.b.batch_stride + j * p.b.col_stride;
    }
  }
  const T* a = p.a.data + bi * p.a.batch_stride;

  float acc[skinny_max_m][kAcc] = {};
  constexpr index_t step = index_t{lanes} * 8;
  for (index_t k0 = index_t{lane} * 8; k0 < p.k; k0 += step * skinny_unroll) {
    V wv[skinny_unroll][kAcc];
    FUSEKIT_UNROLL
    for (int u = 0; u < skinny_unroll; ++u)
      if (k0 + u * step < p.k)
        FUSEKIT_UNROLL
        for (int i = 0; i < kAcc; ++i) wv[u][i] = gpu::load_streaming(reinterpret_cast<const V*>(w[i] + k0 + u * step));
    FUSEKIT_UNROLL
    for (int u = 0; u < skinny_unroll; ++u) {
      if (k0 + u * step >= p.k) break;
      FUSEKIT_UNROLL
      for (int r = 0; r < skinny_max_m; ++r) {
        if (r >= p.m) break;
        const V av = *reinterpret_cast<const V*>(a + r * p.a.row_stride + k0 + u * step);
        float af[8];
        FUSEKIT_UNROLL
        for (int e = 0; e < 8; ++e) af[e] = to_float(av.v[e]);
        FUSEKIT_UNROLL
        for (int i = 0; i < kAcc; ++i)
          FUSEKIT_UNROLL
          for (int e = 0; e < 8; ++e) acc[r][i] += af[e] * to_float(wv[u][i].v[e]);
      }
    }
  }

  // Sum over the warp, then lane (r * skinny_cols + c) % lanes writes output (r, j0 + c).
  FUSEKIT_UNROLL
  for (int r = 0; r < skinny_max_m; ++r) {
    if (r >= p.m) break;
    FUSEKIT_UNROLL
    for (int i = 0; i < kAcc; ++i) acc[r][i] = gpu::warp_sum(acc[r][i]);
    FUSEKIT_UNROLL
    for (int c = 0; c < skinny_cols; ++c) {
      const index_t j = j0 + c;
      if ((r * skinny_cols + c) % lanes != lane || j >= p.n_out) continue;
      const float gate_v = acc[r][c], up_v = acc[r][Epi::gated ? skinny_cols + c : c];
      const float v = p.output(
          [&](index_t col) {
            if constexpr (Epi::gated) return col == p.gate_col(j, p.epi.gate_layout()) ? gate_v : up_v;
            else return (void)col, gate_v;
          },
          bi, r, j);
      *p.c.at(bi, r, j) = convert<O>(v);
    }
  }
}

}  // namespace fusekit::kernels
#endif
