#pragma once
// Pieces shared by the GPU GEMM kernels (kernels/gemm.hpp):
//   GemmTileCoords  which output tile a block owns (grouped raster order, for L2 reuse of B) and which
//                   accumulator columns its B tile holds (gates put gate and up columns side by side)
//   store_tile      the fused epilogue: an fp32 accumulator tile in shared memory -> C, through
//                   GemmParams::output, 8 output columns per thread, vector stores where aligned
#include <type_traits>

#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/ops/gemm_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

// Blocks of one batch entry walk the (m, n) tiles in groups of kGroupM tile rows: a wave of blocks then
// shares a few rows of A and a band of B instead of streaming all of B once per tile row.
inline constexpr int gemm_group_m = 8;

template <int BM, int BN, class Epi>
struct GemmTileCoords {
  index_t m0;       // first row
  index_t acc0;     // first accumulator column of the tile (gate half for concatenated gates)
  index_t out0;     // first output column
  int out_cols;     // output columns per tile: BN, or BN / 2 behind a gate
  bool concat;      // concatenated gate: tile column t < BN / 2 is gate column acc0 + t, else up column
  index_t n_out;

  template <class P>
  FUSEKIT_DEVICE GemmTileCoords(const P& p, index_t tile) {
    const index_t tiles_m = (p.m + BM - 1) / BM;
    out_cols = Epi::gated ? BN / 2 : BN;
    const index_t tiles_n = (p.n_out + out_cols - 1) / out_cols;
    const index_t group = tile / (gemm_group_m * tiles_n);
    const index_t first_m = group * gemm_group_m;
    const index_t group_rows = tiles_m - first_m < gemm_group_m ? tiles_m - first_m : gemm_group_m;
    const index_t in_group = tile % (gemm_group_m * tiles_n);
    m0 = (first_m + in_group % group_rows) * BM;
    const index_t tn = in_group / group_rows;
    out0 = tn * out_cols;
    concat = Epi::gated && p.epi.gate_layout() == GateLayout::concatenated;
    acc0 = Epi::gated && !concat ? 2 * out0 : out0;
    n_out = p.n_out;
  }

  // Accumulator column held by tile column t, or -1 past the matrix.
  FUSEKIT_DEVICE index_t acc_col(int t, index_t n) const {
    if (concat) {
      const int half = BN / 2;
      const index_t j = out0 + (t < half ? t : t - half);
      return j < n_out ? (t < half ? j : j + n_out) : -1;
    }
    const index_t c = acc0 + t;
    return c < n ? c : -1;
  }
  // Tile column of accumulator column c (inverse of acc_col).
  FUSEKIT_DEVICE int tile_col(index_t c) const {
    if (concat) return static_cast<int>(c >= n_out ? c - n_out - out0 + BN / 2 : c - out0);
    return static_cast<int>(c - acc0);
  }
};

// Output columns t .. t + 7 of a gated tile's row (t = column - out0, a multiple of 8; row 16-byte
// aligned): their gate and up accumulators. Tile columns follow GemmTileCoords::acc_col: concatenated,
// gate t and up BN / 2 + t; interleaved, gate 2 t and up 2 t + 1.
template <int BN>
FUSEKIT_DEVICE void load_gate_up(const float* row, int t, bool interleaved, float (&g)[8], float (&u)[8]) {
  if (interleaved) {
    const float4* src = reinterpret_cast<const float4*>(row + 2 * t);
    FUSEKIT_UNROLL
    for (int q = 0; q < 4; ++q) {
      const float4 v = src[q];
      g[2 * q] = v.x, u[2 * q] = v.y, g[2 * q + 1] = v.z, u[2 * q + 1] = v.w;
    }
  } else {
    const float4* gs = reinterpret_cast<const float4*>(row + t);
    const float4* us = reinterpret_cast<const float4*>(row + BN / 2 + t);
    FUSEKIT_UNROLL
    for (int q = 0; q < 2; ++q) {
      const float4 a = gs[q], b = us[q];
      g[4 * q] = a.x, g[4 * q + 1] = a.y, g[4 * q + 2] = a.z, g[4 * q + 3] = a.w;
      u[4 * q] = b.x, u[4 * q + 1] = b.y, u[4 * q + 2] = b.z, u[4 * q + 3] = b.w;
    }
  }
}

// C[bi, m0 + r, out0 + j] for the tile's rows r0 <= r < r1 and output columns, from acc (fp32, [BM][ld]
// in shared memory, tile columns). All kThreads threads of the block take part. Where the threads cover
// whole rows, each keeps one 8-column group for every row it stores: the accumulators come as two float4
// and it takes the group's column plans (ops/gemm_epilogue.hpp: a bias, RoPE's frequency, a cache
// offset) once, not per row.
template <int BM, int BN, int kThreads, class T, class O, class Epi, class ASrc>
FUSEKIT_DEVICE void store_tile(const GemmParams<T, O, Epi, ASrc>& p, const GemmTileCoords<BM, BN, Epi>& tc, index_t bi,
                               const float* acc, int ld, int r0 = 0, int r1 = BM) {
  constexpr int kVec = 8;
  constexpr int groups = (Epi::gated ? BN / 2 : BN) / kVec;  // column groups per row
  static_assert((Epi::gated ? BN / 2 : BN) % kVec == 0, "store_tile: tiles hold whole 8-column groups");
  using Plan = typename Epi::Plan;
  // Columns j0 .. j0 + 7's plans (those below n_out; gated epilogues take theirs per element).
  auto plans_of = [&](index_t j0, Plan (&pl)[kVec]) {
    if constexpr (!Epi::gated) {
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e)
        if (j0 + e < p.n_out) pl[e] = p.epi.plan(j0 + e);
    }
  };
  // kFull: all 8 columns are below n_out. A separate instantiation, because per-element bounds checks in
  // the stages made b18c384nbt fp16 11% slower on H100 (batch 64: 7.15 against 6.43 ms).
  auto group = [&](auto full, int r, index_t j0, const Plan (&pl)[kVec]) {
    constexpr bool kFull = decltype(full)::value;
    const index_t m = tc.m0 + r;
    const float* row = acc + r * ld;
    // ungated: tile column t is output column out0 + t, and the group's 8 floats sit together
    float vals[kVec];
    const bool aligned = ld % 4 == 0 && reinterpret_cast<std::uintptr_t>(acc) % 16 == 0;
    const bool direct = !Epi::gated && aligned;
    if (direct) {
      const float4* src = reinterpret_cast<const float4*>(row + (j0 - tc.out0));
      const float4 a = src[0], b = src[1];
      vals[0] = a.x, vals[1] = a.y, vals[2] = a.z, vals[3] = a.w, vals[4] = b.x, vals[5] = b.y, vals[6] = b.z, vals[7] = b.w;
    }
    auto value = [&](index_t c) {
      const index_t e = c - j0;
      if (!direct || e < 0 || e >= kVec) return row[tc.tile_col(c)];
      float v = vals[0];  // a select, not an indexed load: vals stays in registers for a runtime e too
      FUSEKIT_UNROLL
      for (int q = 1; q < kVec; ++q) v = e == q ? vals[q] : v;
      return v;
    };
    O* dst = p.c.at(bi, m, j0);
    using V = gpu::Vec<O, kVec>;
    const bool vec = kFull && p.c.col_stride == 1 && reinterpret_cast<std::uintptr_t>(dst) % sizeof(V) == 0;
    // Columns past n_out are not computed: a stage would read its bias or residual out of bounds.
    float out[kVec] = {};
    const index_t live = p.n_out - j0;  // >= 1
    if constexpr (Epi::gated) {
      if (aligned) {  // the group's 8 gate and 8 up values as four float4 (the tile's own column order)
        const GateLayout layout = p.epi.gate_layout();
        float g[kVec], u[kVec];
        load_gate_up<BN>(row, static_cast<int>(j0 - tc.out0), layout == GateLayout::interleaved, g, u);
        FUSEKIT_UNROLL
        for (int e = 0; e < kVec; ++e)
          if (kFull || e < live) out[e] = p.gated_output(g[e], u[e], bi, m, j0 + e, layout);
      } else {
        FUSEKIT_UNROLL
        for (int e = 0; e < kVec; ++e)
          if (kFull || e < live) out[e] = p.output(value, bi, m, j0 + e);
      }
    } else if constexpr (Epi::paired) {
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; e += 2) {
        if (kFull || e + 1 < live) p.output_pair_planned(value, bi, m, j0 + e, pl[e], pl[e + 1], out[e], out[e + 1]);
        else if (kFull || e < live) out[e] = p.output(value, bi, m, j0 + e);
      }
    } else if constexpr (Epi::side_last) {  // the side store's 8 values as one vector where it can
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e)
        if (kFull || e < live) out[e] = p.output_before_side(value, bi, m, j0 + e, pl[e]);
      const auto& side = p.epi.side_stage();
      auto* sd = side.at_dst({bi, m, j0});
      using ST = std::remove_pointer_t<decltype(sd)>;
      using SV = gpu::Vec<ST, kVec>;
      if (kFull && side.col_stride == 1 && reinterpret_cast<std::uintptr_t>(sd) % sizeof(SV) == 0) {
        SV sv;
        FUSEKIT_UNROLL
        for (int e = 0; e < kVec; ++e) sv.v[e] = convert<ST>(side.side_value(out[e], {bi, m, j0 + e}, Epi::side_plan(pl[e])));
        *reinterpret_cast<SV*>(sd) = sv;
      } else {
        FUSEKIT_UNROLL
        for (int e = 0; e < kVec; ++e)
          if (kFull || e < live) side.apply(out[e], {bi, m, j0 + e}, Epi::side_plan(pl[e]));
      }
    } else {
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e)
        if (kFull || e < live) out[e] = p.output_planned(value, bi, m, j0 + e, pl[e]);
    }
    if (vec) {
      V v;
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e) v.v[e] = convert<O>(out[e]);
      *reinterpret_cast<V*>(dst) = v;
    } else {
      FUSEKIT_UNROLL
      for (int e = 0; e < kVec; ++e)
        if (kFull || e < live) *p.c.at(bi, m, j0 + e) = convert<O>(out[e]);
    }
  };
  if constexpr (kThreads % groups == 0) {
    constexpr int row_step = kThreads / groups;
    const index_t j0 = tc.out0 + (threadIdx.x % groups) * kVec;
    if (j0 >= p.n_out) return;
    Plan pl[kVec] = {};
    plans_of(j0, pl);  // once, for every row below
    auto rows = [&](auto full) {
      for (int r = r0 + static_cast<int>(threadIdx.x) / groups; r < r1 && tc.m0 + r < p.m; r += row_step) group(full, r, j0, pl);
    };
    if (j0 + kVec <= p.n_out) rows(std::true_type{});
    else rows(std::false_type{});
  } else {
    for (int idx = threadIdx.x; idx < (r1 - r0) * groups; idx += kThreads) {
      const int r = r0 + idx / groups;
      const index_t j0 = tc.out0 + (idx % groups) * kVec;
      if (tc.m0 + r >= p.m || j0 >= p.n_out) continue;
      Plan pl[kVec] = {};
      plans_of(j0, pl);
      if (j0 + kVec <= p.n_out) group(std::true_type{}, r, j0, pl);
      else group(std::false_type{}, r, j0, pl);
    }
  }
}

}  // namespace fusekit::kernels
#endif
