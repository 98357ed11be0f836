#pragma once
// GPU GEMM for few rows (M <= 16) on NVIDIA matrix cores: decode-time projections such as Pi0's 11
// suffix tokens, where the work is streaming the weight W [N, K] (B = W^T) once at memory bandwidth.
//
// y^T = W x^T as mma.sync m16n8k16 with W in the A role (16 weight rows per atom) and x in the B role
// (x's rows as two n8 halves), fragments straight from 16-byte global loads, no shared-memory staging:
// in a 32-wide k-step lane (g, q) loads k [8q, 8q + 8) of weight rows g, g + 8, g + 16, g + 24 and of x
// rows g, g + 8. Words 2h, 2h + 1 of those vectors feed k16 half h of the step, so the mma sums the
// k of the step in a permuted order, the same permutation for both operands (a dot product does not
// depend on the order of its terms).
//
// A block (SmallMShape) of 4 or 8 warps owns 16 accumulator columns (weight rows; the shape allows more
// m16 atoms). K is cut into chunks of up to 4 k-steps; the warps of a block take every 4th or 8th chunk
// of the block's k-range, all of a chunk's loads in flight at once; the warps' partial tiles sum in
// shared memory. K may also be split across blocks (blockIdx.y): those splits form a cluster and sum
// through distributed shared memory (sm_90), or meet in the split-K workspace. The epilogue is the GEMM
// kernels' store_tile.
#include <tuple>

#include "fusekit/backend/hip/cluster.hpp"
#include "fusekit/backend/hip/vec.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/kernels/gemm_tile.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/kernels/split_k.hpp"

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
namespace fusekit::kernels {

inline constexpr int small_m_max_m = 16;  // two n8 halves of x rows

// A block's shape: kAtoms m16 atoms of weight rows (16 kAtoms accumulator columns), kWarps warps that split
// the block's K between them, chunks of up to kSteps k-steps of 32 (16 bytes per weight row and step per
// lane, all of a chunk's loads in flight at once).
template <int kAtoms, int kWarps, int kSteps>
struct SmallMShape {
  static constexpr int atoms = kAtoms, warps = kWarps, steps = kSteps;
  static constexpr int threads = 32 * kWarps;
  static constexpr int cols = 16 * kAtoms;
  static constexpr int ld = cols + 4;          // the fp32 tile's row stride
  static constexpr int min_blocks = 512 / threads;  // 16 warps per SM: at most 128 registers per thread
};
// The shapes the policy picks from (GemmOptions::tile forces one). One atom of columns per block, so
// that even 1024-column weights give a block to every multiprocessor; 8 warps split a block's K where
// few columns leave few blocks, 4 where the blocks are many (more of them resident at once). H100, 11
// rows, graph us (bench/experiments/small_m_floor.cu; the earlier 2-atom, 8-warp block in brackets):
// 8192x1024 8.22 with 4 warps (10.43); 32768x2048 44.1 (49.6, a read of the bytes alone 42.9);
// 1024x4096 6.66 with 8 warps (7.60); 1024x2048 4.49 (5.32); 2048x2048 5.75 (6.78); 2560x1024 4.62-4.77
// (4.27-4.84: the one shape where the earlier block was faster in most rounds, by up to 0.4 us).
using SmallMShapes = std::tuple<SmallMShape<1, 8, 4>, SmallMShape<1, 4, 4>>;
inline constexpr int small_m_shape_count = static_cast<int>(std::tuple_size_v<SmallMShapes>);

// The RMSNorm prologue on one 16-byte vector of x: ss += the squares of its 8 elements, then
// x *= weight + offset (one rounding). The row's rsqrt scale is applied to the accumulators instead
// (it is one factor per row), once the block knows the whole row's sum of squares.
template <class T>
FUSEKIT_DEVICE inline void small_m_norm(gpu::Vec<unsigned, 4>& xv, const float (&w)[8], float& ss) {
  gpu::Vec<T, 8> x;
  __builtin_memcpy(&x, &xv, sizeof x);
  FUSEKIT_UNROLL
  for (int e = 0; e < 8; ++e) {
    const float v = to_float(x.v[e]);
    ss += v * v;
    x.v[e] = convert<T>(v * w[e]);
  }
  __builtin_memcpy(&xv, &x, sizeof x);
}
template <class T>
FUSEKIT_DEVICE inline float small_m_squares(const gpu::Vec<unsigned, 4>& xv) {
  gpu::Vec<T, 8> x;
  __builtin_memcpy(&x, &xv, sizeof x);
  float ss = 0.f;
  FUSEKIT_UNROLL
  for (int e = 0; e < 8; ++e) ss += to_float(x.v[e]) * to_float(x.v[e]);
  return ss;
}
// weight[k, k + 8) + offset as floats (a 16-bit weight in one 16-byte load, fp32 in two)
template <class W>
FUSEKIT_DEVICE inline void small_m_norm_weight(const W* w, float offset, float (&out)[8]) {
  constexpr int per = 16 / static_cast<int>(sizeof(W)), loads = 8 / per;
  using VW = gpu::Vec<W, per>;
  VW v[loads];
  FUSEKIT_UNROLL
  for (int i = 0; i < loads; ++i) v[i] = reinterpret_cast<const VW*>(w)[i];
  FUSEKIT_UNROLL
  for (int e = 0; e < 8; ++e) out[e] = to_float(v[e / per].v[e % per]) + offset;
}

// NW (not void): A's rows pass through an RMSNorm first (GemmRowNorm): the rows' sums of squares gathered
// from the x the warps load (and, when K is split across blocks, from x outside the block's k-range, so
// that every block knows whole rows), the accumulators scaled per row; with a weight of type NW, x is
// also scaled by it in registers (NormWeightFolded: the weight is in B already, nothing to scale: the
// cheap form, as the scaling costs registers in the loop).
template <class T, class O, class Epi, class NW, class S>
FUSEKIT_GLOBAL void __launch_bounds__(S::threads, S::min_blocks)
    gemm_small_m(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi> p, const SplitK sk, const int chunk_steps,
                 const GemmRowNorm<std::conditional_t<std::is_void_v<NW>, T, NW>> norm) {
  constexpr bool kNorm = !std::is_void_v<NW>, kWeighted = kNorm && !std::is_same_v<NW, NormWeightFolded>;
  using Atom = MmaSm80<T>;
  using V = gpu::Vec<unsigned, 4>;  // 8 f16/bf16 as the mma's 32-bit words
  constexpr int BM = small_m_max_m, BN = S::cols, kW = S::warps, kR = 2 * S::atoms, kLd = S::ld;
  __shared__ __align__(16) float part[kW][BM * BN];   // each warp's partial tile [row][column]
  __shared__ __align__(16) float tile[BM * kLd];      // the block's fp32 tile, as store_tile reads it
  __shared__ float squares[kNorm ? kW : 1][BM];       // each warp's sums of squares of x's rows

  const index_t bi = blockIdx.z;
  const GemmTileCoords<BM, BN, Epi> tc(p, blockIdx.x);
  const int warp = static_cast<int>(threadIdx.x) / 32, lane = static_cast<int>(threadIdx.x) % 32;
  const int g = lane / 4, q = lane % 4;

  const T* w[kR];  // weight rows of tile columns g, g + 8, g + 16, ... (nullptr: past N)
  FUSEKIT_UNROLL
  for (int i = 0; i < kR; ++i) {
    const index_t col = tc.acc_col(g + 8 * i, p.n);
    w[i] = col >= 0 ? p.b.at(bi, 0, col) + 8 * q : nullptr;
  }
  const index_t steps = (p.k + 31) / 32;
  const index_t chunks = (steps + chunk_steps - 1) / chunk_steps;
  const index_t c_begin = sk.splits > 1 ? index_t{blockIdx.y} * sk.tiles_per_split : 0;
  const index_t c_end = sk.splits > 1 ? std::min<index_t>(chunks, c_begin + sk.tiles_per_split) : chunks;
  V wv[S::steps][kR];  // a chunk's weights
  auto load_w = [&](index_t c) {
    FUSEKIT_UNROLL
    for (int u = 0; u < S::steps; ++u) {
      const index_t k = (c * chunk_steps + u) * 32;
      const bool in = u < chunk_steps && k + 8 * q < p.k;  // K % 8 == 0: whole vectors in or out
      FUSEKIT_UNROLL
      for (int i = 0; i < kR; ++i)
        wv[u][i] = in && w[i] ? gpu::load_streaming(reinterpret_cast<const V*>(w[i] + k)) : V{};
    }
  };
  // The weight lines of this warp's first chunk go to L2 while an earlier kernel may still run (launched
  // dependent): in a decode step the weights are the bytes, and this overlaps their DRAM latency with the
  // previous kernel's tail. Lanes q == 0 touch every 128-byte line (2 k-steps of one row) once. (Loading
  // them into registers before the wait, for weights no earlier kernel writes, measured no faster with
  // the shapes below: H100, 11 rows, 8192x1024 8.97 us against 8.22.)
  const index_t c0 = c_begin + warp;
  if (q == 0 && c0 < c_end)
    FUSEKIT_UNROLL
    for (int u = 0; u < S::steps; u += 2) {
      const index_t k = (c0 * chunk_steps + u) * 32;
      FUSEKIT_UNROLL
      for (int i = 0; i < kR; ++i)
        if (u < chunk_steps && k < p.k && w[i]) gpu::prefetch_l2(w[i] + k);
    }
  gpu::wait_for_prior_grid();  // launched dependent: earlier kernels' writes are visible from here on
  const T* x[2];  // rows g and g + 8 of x (nullptr: past M)
  FUSEKIT_UNROLL
  for (int j = 0; j < 2; ++j) x[j] = g + 8 * j < p.m ? p.a.at(bi, g + 8 * j, 0) + 8 * q : nullptr;
  const bool upper = p.m > 8;  // the second n8 half of x holds rows

  typename Atom::C acc[S::atoms][2];  // (weight atom, x half)
  FUSEKIT_UNROLL
  for (int i = 0; i < S::atoms; ++i)
    FUSEKIT_UNROLL
    for (int j = 0; j < 2; ++j) acc[i][j] = {{0.f, 0.f, 0.f, 0.f}};

  float ss[2] = {0.f, 0.f};  // kNorm: this lane's squares of x rows g and g + 8
  for (index_t c = c0; c < c_end; c += kW) {
    load_w(c);
    V xv[S::steps][2];
    FUSEKIT_UNROLL
    for (int u = 0; u < S::steps; ++u) {  // every load of the chunk before the first mma
      const index_t k = (c * chunk_steps + u) * 32;
      const bool in = u < chunk_steps && k + 8 * q < p.k;
      FUSEKIT_UNROLL
      for (int j = 0; j < 2; ++j) xv[u][j] = in && x[j] ? *reinterpret_cast<const V*>(x[j] + k) : V{};
    }
    FUSEKIT_UNROLL
    for (int u = 0; u < S::steps; ++u) {
      if (u >= chunk_steps) break;
      if constexpr (kWeighted) {
        const index_t k = (c * chunk_steps + u) * 32 + 8 * q;
        if (k < p.k) {  // (past K, x is zeros and stays zeros)
          float nw[8];
          small_m_norm_weight(norm.weight + k, norm.weight_offset, nw);
          small_m_norm<T>(xv[u][0], nw, ss[0]);
          if (upper) small_m_norm<T>(xv[u][1], nw, ss[1]);
        }
      } else if constexpr (kNorm) {  // (past K, x is zeros)
        ss[0] += small_m_squares<T>(xv[u][0]);
        if (upper) ss[1] += small_m_squares<T>(xv[u][1]);
      }
      FUSEKIT_UNROLL
      for (int h = 0; h < 2; ++h)
        FUSEKIT_UNROLL
        for (int i = 0; i < S::atoms; ++i) {
          const V& lo = wv[u][2 * i];  // rows g and g + 8 of atom i
          const V& hi = wv[u][2 * i + 1];
          const typename Atom::A a{{lo.v[2 * h], hi.v[2 * h], lo.v[2 * h + 1], hi.v[2 * h + 1]}};
          Atom::mma(acc[i][0], a, typename Atom::B{{xv[u][0].v[2 * h], xv[u][0].v[2 * h + 1]}});
          if (upper) Atom::mma(acc[i][1], a, typename Atom::B{{xv[u][1].v[2 * h], xv[u][1].v[2 * h + 1]}});
        }
    }
  }
  gpu::allow_dependent_launch();
  if constexpr (kNorm) {
    // x outside this split's k-range: its squares only (every block needs whole rows)
    if (sk.splits > 1)
      for (index_t c = warp; c < chunks; c += kW) {
        if (c >= c_begin && c < c_end) continue;
        FUSEKIT_UNROLL
        for (int u = 0; u < S::steps; ++u) {
          const index_t k = (c * chunk_steps + u) * 32;  // (x[j] points at this lane's 8q already)
          if (u >= chunk_steps || k + 8 * q >= p.k) break;
          FUSEKIT_UNROLL
          for (int j = 0; j < 2; ++j)
            if (x[j]) ss[j] += small_m_squares<T>(*reinterpret_cast<const V*>(x[j] + k));
        }
      }
    FUSEKIT_UNROLL
    for (int j = 0; j < 2; ++j) {
      ss[j] += gpu::shfl_xor(ss[j], 1);
      ss[j] += gpu::shfl_xor(ss[j], 2);
      if (q == 0) squares[warp][g + 8 * j] = ss[j];
    }
  }

  // C fragment of atom (i, j): (weight row g (+8), x rows 2q, 2q + 1) -> part[warp][x row][tile column].
  float* mine = part[warp];
  FUSEKIT_UNROLL
  for (int i = 0; i < S::atoms; ++i)
    FUSEKIT_UNROLL
    for (int j = 0; j < 2; ++j)
      FUSEKIT_UNROLL
      for (int e = 0; e < 4; ++e) mine[(8 * j + 2 * q + e % 2) * BN + 16 * i + g + 8 * (e / 2)] = acc[i][j].v[e];
  __syncthreads();
  for (int idx = static_cast<int>(threadIdx.x); idx < BM * BN; idx += S::threads) {
    float s = 0.f;
    FUSEKIT_UNROLL
    for (int wi = 0; wi < kW; ++wi) s += part[wi][idx];
    if constexpr (kNorm) {  // the row's scale (the same in every split, so it may precede their sum)
      float sq = 0.f;
      FUSEKIT_UNROLL
      for (int wi = 0; wi < kW; ++wi) sq += squares[wi][idx / BN];
      s *= rsqrtf(sq / static_cast<float>(p.k) + norm.eps);
    }
    tile[(idx / BN) * kLd + idx % BN] = s;
  }

  int r0 = 0, r1 = BM;
  if (sk.splits > 1 && sk.cluster) {
    __syncthreads();
    reduce_cluster_rows<BM, BN, S::threads>(tile, kLd, sk.splits, r0, r1);
  } else if (sk.splits > 1) {
    // The workspace hand-off: BM * BN / 4 threads hold 4 floats of the tile each.
    constexpr int holders = BM * BN / 4;
    static_assert(holders <= S::threads, "small_m: every holder is a thread");
    __syncthreads();
    float v[4];
    const int t = static_cast<int>(threadIdx.x) % holders;
    float* at = tile + (t / (BN / 4)) * kLd + 4 * (t % (BN / 4));
    FUSEKIT_UNROLL
    for (int e = 0; e < 4; ++e) v[e] = at[e];
    if (!reduce_splits<holders>(sk, bi * gridDim.x + blockIdx.x, v)) return;  // not the last split
    __syncthreads();  // every holder has read its part of the tile
    if (threadIdx.x < holders)
      FUSEKIT_UNROLL
      for (int e = 0; e < 4; ++e) at[e] = v[e];
  }
  __syncthreads();
  store_tile<BM, BN, S::threads>(p, tc, bi, tile, kLd, r0, r1);
  if (sk.splits > 1 && sk.cluster) gpu::cluster_wait();  // no block leaves while another reads its tile
}

}  // namespace fusekit::kernels
#endif
