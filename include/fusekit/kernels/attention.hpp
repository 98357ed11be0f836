#pragma once
// GPU attention (front end: ops/attention.hpp). The matrix-core kernel is FlashAttention-2's schedule on
// the MmaSm80 atom (mma.sync m16n8k16, NVIDIA sm_80+ incl. sm_90a):
//   - a block owns BM = 16 * kWarps packed query rows of one (batch entry, KV head): the query heads that
//     share the KV head sit side by side (row = query * group + head), so GQA/MQA read K and V once;
//   - K and V tiles of kBN keys stream through a cp.async pipeline of kStages (2 or more) into padded
//     shared tiles;
//   - each warp computes its 16 x kBN scores into registers, masks them (one compare per element against
//     the row's last visible key), runs the online softmax in the log2 domain, and feeds the
//     probabilities, rounded to T, straight back as the A operand of P V (the accumulator layout of
//     m16n8k16 is the A layout of the next one);
//   - head dims that are not a multiple of 16 (SigLIP's 72) are zero-padded in shared memory only, to
//     the next multiple of 16 (72 -> 80), never to 128.
// Split keys (flash-decoding): when the tiles cannot fill the GPU, blockIdx.z takes a range of key tiles.
// On sm_90 up to 8 splits of a tile form one thread-block cluster: each block leaves its unnormalised
// rows and (max, sum) in its shared memory and finishes a share of the tile's rows from all of them
// (combine_cluster_splits). Otherwise each split writes them to the stream's workspace and a second
// kernel combines them (attention_combine).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>

#include "fusekit/backend/hip/async_copy.hpp"
#include "fusekit/backend/hip/cluster.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/kernels/attention_simt.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/ops/attention_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

// [kRows][kInner] in shared memory with one spare 16-byte chunk per row: a row is an odd number of
// chunks, so 8 consecutive rows at one chunk hit 8 different bank groups (ldmatrix without conflicts)
// for any kInner, including ones whose chunk count is not a power of 2 (80).
template <class T, int kRows, int kInner>
struct PaddedTile {
  static constexpr int chunk = 16 / static_cast<int>(sizeof(T));
  static constexpr int ld = kInner + chunk;
  static constexpr int elements = kRows * ld;
  static_assert(kInner % (2 * chunk) == 0, "PaddedTile: rows of an even number of 16-byte chunks");
  FUSEKIT_HOST_DEVICE static constexpr int offset(int row, int ch) { return row * ld + ch * chunk; }
};

template <class T, int kDim, int kWarps, int kMT, int kBN, int kKeyWarps = 1, int kStages = 2, int kColWarps = 1>
struct AttnMmaConfig {
  // kMT: 16-row atoms per warp (2 reuses every K/V fragment from shared memory twice).
  // kKeyWarps == kWarps (decode): every warp takes all BM rows against its own key tiles, with its own K/V
  // stages, and the warps' partial rows are combined in shared memory; 1: the warps split the rows and
  // share each K/V tile.
  // kStages: K/V tiles in flight (each warp of a decode tile has its own).
  // kColWarps: warps that share a row atom: each computes the same scores and softmax, and P V for its
  // share of the head dim (twice the warps for the same rows, each with fewer columns to accumulate: a
  // split-key block walks few key tiles, and with one warp per scheduler nothing hid its latencies).
  static_assert(kKeyWarps == 1 || kKeyWarps == kWarps, "AttnMmaConfig: key warps are 1 or all");
  static_assert(kStages >= 2, "AttnMmaConfig: at least 2 stages");
  static_assert(kColWarps == 1 || (kKeyWarps == 1 && kWarps % kColWarps == 0 && kDim / 8 % (2 * kColWarps) == 0),
                "AttnMmaConfig: column warps share rows, not key tiles, and take even numbers of 8-column groups");
  static constexpr int dim = kDim, warps = kWarps, MT = kMT, BN = kBN, threads = 32 * kWarps, key_warps = kKeyWarps;
  static constexpr int stages = kStages, col_warps = kColWarps;
  static constexpr int BM = 16 * kMT * (kWarps / kKeyWarps / kColWarps);
  using QTile = PaddedTile<T, BM, kDim>;
  using KVTile = PaddedTile<T, kBN, kDim>;
  // Q + the stages of K and V per key group; the key groups' fp32 partial rows reuse the K/V space
  static constexpr std::size_t kv_bytes = kKeyWarps * 2 * kStages * KVTile::elements * sizeof(T);
  static constexpr std::size_t scratch_bytes = kKeyWarps > 1 ? kKeyWarps * BM * (kDim + 2) * sizeof(float) : 0;
  static constexpr std::size_t smem = QTile::elements * sizeof(T) + (kv_bytes > scratch_bytes ? kv_bytes : scratch_bytes);
  // Splits combined in a cluster: the block's fp32 rows, row stride cluster_ld, in the K/V space (key
  // warps: warp 0's rows of the scratch above, combined in place); (max, sum) per row and the combine's
  // weights in the Q space.
  static constexpr int cluster_ld = kKeyWarps > 1 ? kDim : kDim + 8;  // + 8: float2 row stores hit 32 banks
  static constexpr std::size_t cluster_bytes = BM * cluster_ld * sizeof(float);
  static constexpr std::size_t cluster_smem = smem > QTile::elements * sizeof(T) + cluster_bytes
                                                  ? smem
                                                  : QTile::elements * sizeof(T) + cluster_bytes;
  static_assert(QTile::elements * sizeof(T) >= BM * 26, "AttnMmaConfig: the Q space holds (m, l) and half the rows' weights");
};

// Two floats rounded to nearest-even into one register of two T (a in the low half): one cvt on sm_80+.
template <class T>
FUSEKIT_DEVICE inline unsigned pack2(float a, float b) {
  unsigned r;
#if FUSEKIT_CUDA_ARCH >= 800
  if constexpr (std::is_same_v<T, bfloat16>) asm("cvt.rn.bf16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(b), "f"(a));
  else asm("cvt.rn.f16x2.f32 %0, %1, %2;\n" : "=r"(r) : "f"(b), "f"(a));
#else
  r = static_cast<unsigned>(convert<T>(a).bits) | (static_cast<unsigned>(convert<T>(b).bits) << 16);
#endif
  return r;
}

// Where split blocks leave their partial rows: o [tile][split][BM][dim] fp32 (unnormalised) and
// (m, l) [tile][split][BM] (running max in the log2 domain, sum of exp2).
struct AttnSplits {
  int splits = 1;
  int tiles_per_split = 0;  // key tiles per split
  float* o = nullptr;
  float2* ml = nullptr;
  int q_tiles = 0;
  int cluster = 0;  // 1: the splits of a tile are one cluster and combine there (o, ml unused)
};

inline constexpr int attn_max_cluster_splits = 8;  // a portable cluster

#if FUSEKIT_VENDOR_CUDA
// Key splits combined inside the cluster (AttnSplits::cluster): every block has left its rows'
// unnormalised o (fp32, row stride ld) in `so` and their (max, sum) in `ml`, at the same offsets in its
// own shared memory; block `rank` finishes rows [rank BM / S, (rank + 1) BM / S) of the tile from all S
// blocks' rows and stores them. `cw` (local) holds the weights. Every thread of every block calls it.
template <int BM, int DP, int kThreads, class T>
FUSEKIT_DEVICE void combine_cluster_splits(const AttentionParams<T>& p, const float* so, int ld, const float2* ml, float* cw,
                                           int splits, int valid_rows, index_t row0, index_t b, index_t hk) {
  constexpr int kMax = attn_max_cluster_splits, kW = kMax + 1, Q4 = DP / 4;
  constexpr float inf = std::numeric_limits<float>::infinity();
  gpu::cluster_arrive();
  gpu::cluster_wait();  // every block's rows are in its shared memory
  const int rank = static_cast<int>(gpu::cluster_rank());
  const int r0 = rank * BM / splits, n = min((rank + 1) * BM / splits, valid_rows) - r0;
  for (int i = threadIdx.x; i < n; i += kThreads) {  // row r0 + i: split s's weight 2^(m_s - M), 1 / sum
    float2 v[kMax];
    FUSEKIT_UNROLL
    for (int sp = 0; sp < kMax; ++sp)
      if (sp < splits) v[sp] = gpu::load_cluster_f2(&ml[r0 + i].x, static_cast<unsigned>(sp));
    float mx = -inf;
    FUSEKIT_UNROLL
    for (int sp = 0; sp < kMax; ++sp)
      if (sp < splits) mx = fmaxf(mx, v[sp].x);
    float lsum = 0.f;
    FUSEKIT_UNROLL
    for (int sp = 0; sp < kMax; ++sp) {
      const float w = sp < splits && v[sp].x != -inf ? exp2f(v[sp].x - mx) : 0.f;  // saw nothing: weight 0
      if (sp < splits) lsum += w * v[sp].y;
      cw[i * kW + sp] = w;
    }
    cw[i * kW + kMax] = lsum != 0.f ? 1.f / lsum : 0.f;  // fully masked row: 0; a NaN sum stays NaN
  }
  __syncthreads();
  const int D = static_cast<int>(p.head_dim);
  const index_t G = p.group(), qb = p.q_begin(b);
  for (int i = threadIdx.x; i < n * Q4; i += kThreads) {
    const int r = i / Q4, c = 4 * (i % Q4);
    if (c >= D) continue;
    const float* at = so + (r0 + r) * ld + c;
    float4 v[kMax];
    gpu::load_cluster_f4_each(v, at, splits);
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    FUSEKIT_UNROLL
    for (int sp = 0; sp < kMax; ++sp) {
      const float w = cw[r * kW + sp];
      if (sp < splits && w != 0.f)  // weight 0: that split's row may hold NaN (0 * NaN): select, not multiply
        acc.x += w * v[sp].x, acc.y += w * v[sp].y, acc.z += w * v[sp].z, acc.w += w * v[sp].w;
    }
    const float inv = cw[r * kW + kMax];
    const index_t pr = row0 + r0 + r;
    T* dst = p.out.at(b, qb + pr / G, hk * G + pr % G) + c;
    *reinterpret_cast<unsigned*>(dst) = pack2<T>(acc.x * inv, acc.y * inv);
    *reinterpret_cast<unsigned*>(dst + 2) = pack2<T>(acc.z * inv, acc.w * inv);
  }
  gpu::cluster_arrive();  // done reading the other blocks' rows: wait for theirs before leaving
  gpu::cluster_wait();
}
#endif

// for (i = tid; i < kCount; i += kThreads): fully unrolled up to 4 trips (measured faster for head dim
// 64 on H200); longer loops are left to the compiler (unrolling the 8 trips of head dim 256 made it
// spill and cost 25% on the Pi0 prefill).
template <int kCount, int kThreads, class Fn>
FUSEKIT_DEVICE inline void strided_for(int tid, Fn&& fn) {
  constexpr int trips = (kCount + kThreads - 1) / kThreads;
  if constexpr (trips <= 4) {
    FUSEKIT_UNROLL
    for (int l = 0; l < trips; ++l)
      if (kCount % kThreads == 0 || tid + l * kThreads < kCount) fn(tid + l * kThreads);
  } else {
    for (int i = tid; i < kCount; i += kThreads) fn(i);
  }
}

template <class T, class Cfg>
FUSEKIT_GLOBAL void __launch_bounds__(Cfg::threads) attention_mma(const FUSEKIT_GRID_CONSTANT AttentionParams<T> p,
                                                                  const AttnSplits sp) {
#if FUSEKIT_CUDA_ARCH >= 800
  using Atom = MmaSm80<T>;
  using QT = typename Cfg::QTile;
  using KT = typename Cfg::KVTile;
  constexpr int BM = Cfg::BM, BN = Cfg::BN, MT = Cfg::MT, DP = Cfg::dim, NS = BN / 8, ND = DP / 8, CH = DP / QT::chunk;
  constexpr int W = Cfg::key_warps;  // key groups (1, or one per warp)
  constexpr int S = Cfg::stages;
  constexpr int RW = Cfg::warps / Cfg::col_warps, NDW = ND / Cfg::col_warps;  // row warps; 8-column groups per warp
  constexpr float inf = std::numeric_limits<float>::infinity();
  extern __shared__ __align__(16) unsigned char attn_smem[];
  T* qs = reinterpret_cast<T*>(attn_smem);
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int kg = W > 1 ? warp : 0;             // this warp's key group
  const int warp_row0 = W > 1 ? 0 : warp % RW * MT * 16;  // its first row in the tile
  const int n0 = warp / RW * NDW;                 // its first 8-column group of P V (column warps)
  auto ks = [&](int st) { return qs + QT::elements + (kg * S + st) * 2 * KT::elements; };
  auto vs = [&](int st) { return qs + QT::elements + (kg * S + st) * 2 * KT::elements + KT::elements; };
  auto group_sync = [] {
    if constexpr (W > 1) __syncwarp();
    else __syncthreads();
  };

  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  const index_t hk = blockIdx.y % p.kv_heads, b = blockIdx.y / p.kv_heads, G = p.group();
  const int D = static_cast<int>(p.head_dim);
  const index_t qn = p.q_count(b), kn = p.k_count(b), rows = qn * G, row0 = static_cast<index_t>(blockIdx.x) * BM;
  // packed row -> (query, head) in 32-bit arithmetic (packed rows < 2^31, checked at launch): a 64-bit
  // division is a branchy subroutine, and the Q load does one per row chunk.
  const int g32 = static_cast<int>(G);
  auto q_of = [g32](index_t pr) { return static_cast<index_t>(static_cast<int>(pr) / g32); };
  auto h_of = [g32](index_t pr) { return static_cast<index_t>(static_cast<int>(pr) % g32); };
  if (row0 >= rows) return;
  const index_t qb = p.q_begin(b);

  // Q tile: packed row pr -> (query pr / G, head hk * G + pr % G); padding rows and columns zero-filled.
  strided_for<BM * CH, Cfg::threads>(tid, [&](int i) {
    const int r = i / CH, c = i % CH;
    const index_t pr = row0 + r;
    const bool ok = pr < rows && c * QT::chunk < D;
    const T* src = ok ? p.q.at(b, qb + q_of(pr), hk * G + h_of(pr)) + c * QT::chunk : p.q.data;
    gpu::copy_async16(qs + QT::offset(r, c), src, ok);
  });
  const int t_begin = sp.splits > 1 ? static_cast<int>(blockIdx.z) * sp.tiles_per_split : 0;
  const T* k_base = p.k.at(b, p.k_begin(b), hk);
  const T* v_base = p.v.at(b, p.k_begin(b), hk);
  const index_t k_ts = p.k.token_stride, v_ts = p.v.token_stride;
  auto load_kv = [&](int t, int st) {  // by the key group's threads
    strided_for<BN * CH, Cfg::threads / W>(W > 1 ? lane : tid, [&](int i) {
      const int r = i / CH, c = i % CH;
      const int key = t * BN + r;
      const bool ok = key < kn && c * KT::chunk < D;  // keys past the end: zeros (P is 0 there, V must not be NaN)
      gpu::copy_async16(ks(st) + KT::offset(r, c), ok ? k_base + key * k_ts + c * KT::chunk : p.k.data, ok);
      gpu::copy_async16(vs(st) + KT::offset(r, c), ok ? v_base + key * v_ts + c * KT::chunk : p.v.data, ok);
    });
  };
  // The first S - 1 key tiles go out with Q (one commit group each), before the row ends are known:
  // past the end they read zeros; tiles of the next split or past the keys are not loaded.
  const int t_limit = min(sp.splits > 1 ? t_begin + sp.tiles_per_split : 0x7fffffff, static_cast<int>((kn + BN - 1) / BN));
  FUSEKIT_UNROLL
  for (int i = 0; i < S - 1; ++i) {
    if (i == 0 || t_begin + kg + i * W < t_limit) load_kv(t_begin + kg + i * W, i);
    gpu::copy_async_commit();
  }
  gpu::allow_dependent_launch();  // the next kernel (the combine, or the output projection) may get ready

  // This thread's rows: g and g + 8 of each of its warp's 16-row atoms, and the keys each sees.
  int end[MT][2];
  int warp_min = 0x7fffffff, mine_max = 0;
  FUSEKIT_UNROLL
  for (int mt = 0; mt < MT; ++mt)
    FUSEKIT_UNROLL
    for (int h = 0; h < 2; ++h) {
      const index_t pr = row0 + warp_row0 + mt * 16 + h * 8 + lane / 4;
      end[mt][h] = pr < rows ? static_cast<int>(p.row_end(b, q_of(pr), qn, kn)) : 0;
      warp_min = min(warp_min, end[mt][h]);
      mine_max = max(mine_max, end[mt][h]);
    }
  FUSEKIT_UNROLL
  for (int w = 16; w >= 1; w /= 2) {
    warp_min = min(warp_min, gpu::shfl_xor(warp_min, w));
    mine_max = max(mine_max, gpu::shfl_xor(mine_max, w));
  }
  // one shared atomic per warp (one per thread serialised 256 of them on one address)
  __shared__ int block_end;
  if (tid == 0) block_end = 0;
  __syncthreads();
  if (lane == 0) atomicMax(&block_end, mine_max);
  __syncthreads();
  const int tiles_needed = (block_end + BN - 1) / BN;
  const int t_end = sp.splits > 1 ? min(tiles_needed, t_begin + sp.tiles_per_split) : tiles_needed;
  if constexpr (W > 1) {  // Q was loaded by every warp: wait for all of it (and the first key tiles)
    gpu::copy_async_wait<0>();
    __syncthreads();
  }

  typename Atom::C o[MT][NDW];  // columns [8 (n0 + n), 8 (n0 + n) + 8)
  float m[MT][2], l[MT][2];
  FUSEKIT_UNROLL
  for (int mt = 0; mt < MT; ++mt) {
    FUSEKIT_UNROLL
    for (int n = 0; n < NDW; ++n) o[mt][n] = {{0.f, 0.f, 0.f, 0.f}};
    m[mt][0] = m[mt][1] = -inf;
    l[mt][0] = l[mt][1] = 0.f;
  }
  const float scale_log2 = p.scale * 1.4426950408889634f;

  for (int t = t_begin + kg; t < t_end; t += W) {
    const int j = (t - t_begin) / W, st = j % S;
    if (t + (S - 1) * W < t_end) load_kv(t + (S - 1) * W, (j + S - 1) % S);  // into the stage tile t - W used
    gpu::copy_async_commit();
    gpu::copy_async_wait<S - 1>();  // tile t (and Q) landed: groups 0..j of the S - 1 + j + 1 committed
    group_sync();

    typename Atom::C s[MT][NS];
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt)
      FUSEKIT_UNROLL
      for (int n = 0; n < NS; ++n) s[mt][n] = {{0.f, 0.f, 0.f, 0.f}};
    FUSEKIT_UNROLL
    for (int kc = 0; kc < DP; kc += 16) {
      typename Atom::A a[MT];
      Atom::template load_a<MT, QT>(a, qs, warp_row0, kc);
      typename Atom::B kf[NS];
      Atom::template load_b_kmajor<NS, KT>(kf, ks(st), 0, kc);
      FUSEKIT_UNROLL
      for (int mt = 0; mt < MT; ++mt)
        FUSEKIT_UNROLL
        for (int n = 0; n < NS; ++n) Atom::mma(s[mt][n], a[mt], kf[n]);
    }

    // Scale to the log2 domain and mask (only tiles that reach past some row's end in this warp);
    // the accumulator rows: g -> v[0], v[1]; g + 8 -> v[2], v[3]; a row spans the 4 lanes of a quad.
    const bool interior = (t + 1) * BN <= warp_min;
    const int key0 = t * BN + 2 * (lane % 4);
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt)
      FUSEKIT_UNROLL
      for (int n = 0; n < NS; ++n)
        FUSEKIT_UNROLL
        for (int e = 0; e < 4; ++e) {
          const float x = s[mt][n].v[e] * scale_log2;
          s[mt][n].v[e] = interior || key0 + n * 8 + (e & 1) < end[mt][e / 2] ? x : -inf;
        }
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt)
      FUSEKIT_UNROLL
      for (int h = 0; h < 2; ++h) {
        float mx = m[mt][h];
        FUSEKIT_UNROLL
        for (int n = 0; n < NS; ++n) mx = fmaxf(mx, fmaxf(s[mt][n].v[2 * h], s[mt][n].v[2 * h + 1]));
        mx = fmaxf(mx, gpu::shfl_xor(mx, 1));
        mx = fmaxf(mx, gpu::shfl_xor(mx, 2));
        const float base = mx == -inf ? 0.f : mx;  // nothing visible yet: every exp2 below is 0
        const float alpha = exp2f(m[mt][h] - base);
        m[mt][h] = mx;
        float sum = 0.f;
        FUSEKIT_UNROLL
        for (int n = 0; n < NS; ++n) {
          s[mt][n].v[2 * h] = exp2f(s[mt][n].v[2 * h] - base);
          s[mt][n].v[2 * h + 1] = exp2f(s[mt][n].v[2 * h + 1] - base);
          sum += s[mt][n].v[2 * h] + s[mt][n].v[2 * h + 1];
        }
        l[mt][h] = l[mt][h] * alpha + sum;  // this thread's share; the quad's shares are summed at the end
        FUSEKIT_UNROLL
        for (int n = 0; n < NDW; ++n) o[mt][n].v[2 * h] *= alpha, o[mt][n].v[2 * h + 1] *= alpha;
      }

    // O += P V: P's accumulators are already the A fragments (k pairs 2q, 2q+8 of a 16-key chunk).
    FUSEKIT_UNROLL
    for (int kc = 0; kc < BN / 16; ++kc) {
      typename Atom::A pa[MT];
      FUSEKIT_UNROLL
      for (int mt = 0; mt < MT; ++mt) {
        pa[mt].r[0] = pack2<T>(s[mt][2 * kc].v[0], s[mt][2 * kc].v[1]);
        pa[mt].r[1] = pack2<T>(s[mt][2 * kc].v[2], s[mt][2 * kc].v[3]);
        pa[mt].r[2] = pack2<T>(s[mt][2 * kc + 1].v[0], s[mt][2 * kc + 1].v[1]);
        pa[mt].r[3] = pack2<T>(s[mt][2 * kc + 1].v[2], s[mt][2 * kc + 1].v[3]);
      }
      FUSEKIT_UNROLL
      for (int n = 0; n < NDW; n += 2) {
        typename Atom::B vf[2];
        Atom::template load_b_nmajor<2, KT>(vf, vs(st), (n0 + n) * 8, kc * 16);
        FUSEKIT_UNROLL
        for (int mt = 0; mt < MT; ++mt) {
          Atom::mma(o[mt][n], pa[mt], vf[0]);
          Atom::mma(o[mt][n + 1], pa[mt], vf[1]);
        }
      }
    }
    group_sync();  // stage st is free for tile t + S W
  }
  gpu::copy_async_wait<0>();

  const int col0 = 2 * (lane % 4);
  FUSEKIT_UNROLL
  for (int mt = 0; mt < MT; ++mt)
    FUSEKIT_UNROLL
    for (int h = 0; h < 2; ++h) {  // each row's sum: the shares of its quad
      l[mt][h] += gpu::shfl_xor(l[mt][h], 1);
      l[mt][h] += gpu::shfl_xor(l[mt][h], 2);
    }
  float2* cml = reinterpret_cast<float2*>(qs);  // cluster combine: (m, l) of the block's rows, in the Q space
  if constexpr (W > 1) {
    // Each warp's rows (o, m, l) to shared memory, then the block combines them row by row.
    __syncthreads();  // every warp is done with the K/V stages the scratch reuses
    float* so = reinterpret_cast<float*>(qs + QT::elements);  // [W][BM][DP]
    float2* sml = reinterpret_cast<float2*>(so + W * BM * DP);  // [W][BM] (m, l)
    FUSEKIT_UNROLL
    for (int mt = 0; mt < MT; ++mt)
      FUSEKIT_UNROLL
      for (int h = 0; h < 2; ++h) {
        const float lt = l[mt][h];
        const int rl = mt * 16 + h * 8 + lane / 4;
        FUSEKIT_UNROLL
        for (int n = 0; n < NDW; ++n)
          *reinterpret_cast<float2*>(so + (warp * BM + rl) * DP + n * 8 + col0) = make_float2(o[mt][n].v[2 * h], o[mt][n].v[2 * h + 1]);
        if (lane % 4 == 0) sml[warp * BM + rl] = make_float2(m[mt][h], lt);
      }
    __syncthreads();
    const index_t part = (static_cast<index_t>(blockIdx.y) * sp.q_tiles + blockIdx.x) * sp.splits + blockIdx.z;
    for (int i = tid; i < BM * DP; i += Cfg::threads) {
      const int r = i / DP, c = i % DP;
      const index_t pr = row0 + r;
      if (pr >= rows || c >= D) continue;
      float mx = -inf;
      FUSEKIT_UNROLL
      for (int w = 0; w < W; ++w) mx = fmaxf(mx, sml[w * BM + r].x);
      float acc = 0.f, lsum = 0.f;
      FUSEKIT_UNROLL
      for (int w = 0; w < W; ++w) {
        const float2 ml = sml[w * BM + r];
        const float wgt = ml.x == -inf ? 0.f : exp2f(ml.x - mx);
        acc += wgt * so[(w * BM + r) * DP + c];
        lsum += wgt * ml.y;
      }
      if (sp.cluster) {  // warp 0's row, in place (this thread read all of this element above)
        so[r * DP + c] = acc;
        if (c == 0) cml[r] = make_float2(mx, lsum);
      } else if (sp.splits > 1) {
        sp.o[(part * BM + r) * DP + c] = acc;
        if (c == 0) sp.ml[part * BM + r] = make_float2(mx, lsum);
      } else {
        p.out.at(b, qb + q_of(pr), hk * G + h_of(pr))[c] = convert<T>(lsum != 0.f ? acc / lsum : 0.f);  // (NaN stays NaN)
      }
    }
  } else {  // one warp: its rows straight out (an `else`, not a return above: no unreachable loop)
  if (sp.cluster) __syncthreads();  // every warp is done with Q and K/V (and every copy has landed)
  FUSEKIT_UNROLL
  for (int mt = 0; mt < MT; ++mt)
    FUSEKIT_UNROLL
    for (int h = 0; h < 2; ++h) {
      const float lt = l[mt][h];
      const int rl = warp_row0 + mt * 16 + h * 8 + lane / 4;  // row in the tile
      if (sp.cluster) {  // the partial row into this block's shared memory, for the cluster's combine
        float* orow = reinterpret_cast<float*>(qs + QT::elements) + rl * Cfg::cluster_ld;
        FUSEKIT_UNROLL
        for (int n = 0; n < NDW; ++n)
          *reinterpret_cast<float2*>(orow + (n0 + n) * 8 + col0) = make_float2(o[mt][n].v[2 * h], o[mt][n].v[2 * h + 1]);
        if (lane % 4 == 0 && n0 == 0) cml[rl] = make_float2(m[mt][h], lt);
        continue;
      }
      if (sp.splits > 1) {  // the partial row for the combine kernel (padding rows: never read, not written)
        if (row0 + rl >= rows) continue;
        const index_t part = (static_cast<index_t>(blockIdx.y) * sp.q_tiles + blockIdx.x) * sp.splits + blockIdx.z;
        float* orow = sp.o + (part * BM + rl) * DP;
        FUSEKIT_UNROLL
        for (int n = 0; n < NDW; ++n) gpu::store_pair(orow + (n0 + n) * 8 + col0, o[mt][n].v[2 * h], o[mt][n].v[2 * h + 1]);
        if (lane % 4 == 0 && n0 == 0) sp.ml[part * BM + rl] = make_float2(m[mt][h], lt);
        continue;
      }
      const index_t pr = row0 + rl;
      if (pr >= rows) continue;
      const float inv = lt != 0.f ? 1.f / lt : 0.f;  // fully masked row: 0; a NaN sum stays NaN
      T* dst = p.out.at(b, qb + q_of(pr), hk * G + h_of(pr));
      FUSEKIT_UNROLL
      for (int n = 0; n < NDW; ++n)
        if ((n0 + n) * 8 < D)
          *reinterpret_cast<unsigned*>(dst + (n0 + n) * 8 + col0) = pack2<T>(o[mt][n].v[2 * h] * inv, o[mt][n].v[2 * h + 1] * inv);
    }
  }
#if FUSEKIT_VENDOR_CUDA
  if (sp.cluster)
    combine_cluster_splits<BM, DP, Cfg::threads>(p, reinterpret_cast<const float*>(qs + QT::elements), Cfg::cluster_ld, cml,
                                                 reinterpret_cast<float*>(cml + BM), sp.splits,
                                                 static_cast<int>(rows - row0 < BM ? rows - row0 : BM), row0, b, hk);
#endif
#else
  (void)p, (void)sp;
  gpu::trap();
#endif
}

// out(row) = sum_s o_s 2^(m_s - M) / sum_s l_s 2^(m_s - M), M = max_s m_s. A 32-lane group (half a
// wavefront on AMD gfx9: the xor shuffles stay inside 32-lane groups) takes 128 columns of one packed
// row, a float4 per lane, and lane s also reads split s's (m, l) (splits <= 32). Every load of the group
// (each split's float4, the (m, l)) is issued before the first use, so the kernel is one memory round
// trip. (With 32 lanes per row and 8 splits' loads in flight at a time it was several: under ncu on
// H100 the Pi0 decode step's combine took 17.6k cycles, as long as its attention kernel.)
// kGroups 32-lane groups per block: as few as it takes to put the combine on every multiprocessor (Pi0's
// decode step, 176 groups of 25 splits x 512 bytes, on H100: 4.1 us in 32 blocks of 8 groups, 3.85 in
// blocks of 4, 2 or 1; most of what is left is the group's serial chain, not the bytes).
inline constexpr int attn_combine_cols = 128, attn_max_splits = 32;

template <class T, int kGroups>
FUSEKIT_GLOBAL void __launch_bounds__(kGroups * 32) attention_combine(const AttentionParams<T> p, const AttnSplits sp,
                                                                      int bm, int dp) {
  constexpr float inf = std::numeric_limits<float>::infinity();
  gpu::wait_for_prior_grid();  // the split blocks' partial rows are complete and visible
  const int lane = threadIdx.x % 32, group_base = (threadIdx.x % gpu::warp_size()) & ~31;
  const int hk = static_cast<int>(blockIdx.y % p.kv_heads), b = static_cast<int>(blockIdx.y / p.kv_heads);
  const int G = static_cast<int>(p.group()), D = static_cast<int>(p.head_dim);
  const int per_row = (D + attn_combine_cols - 1) / attn_combine_cols;
  const int group = static_cast<int>(blockIdx.x) * kGroups + static_cast<int>(threadIdx.x / 32);
  const int pr = group / per_row;  // packed row
  if (pr >= p.q_count(b) * G) return;  // whole 32-lane groups leave together
  const int c = group % per_row * attn_combine_cols + 4 * lane;
  const bool here = c < D;
  const index_t part0 = (static_cast<index_t>(blockIdx.y) * sp.q_tiles + pr / bm) * sp.splits;
  const int rl = pr % bm;
  const float* o = sp.o + (part0 * bm + rl) * dp + (here ? c : 0);  // split s at o + s * bm * dp
  const index_t split_stride = static_cast<index_t>(bm) * dp;
  float4 v[attn_max_splits];
  FUSEKIT_UNROLL
  for (int s = 0; s < attn_max_splits; ++s)
    if (s < sp.splits) v[s] = here ? *reinterpret_cast<const float4*>(o + s * split_stride) : make_float4(0.f, 0.f, 0.f, 0.f);
  const float2 ml = lane < sp.splits ? sp.ml[(part0 + lane) * bm + rl] : make_float2(-inf, 0.f);
  float mx = ml.x;
  FUSEKIT_UNROLL
  for (int w = 16; w >= 1; w /= 2) mx = fmaxf(mx, gpu::shfl_xor(mx, w));
  const float wgt = ml.x == -inf ? 0.f : exp2f(ml.x - mx);  // a split that saw nothing: weight 0
  float lsum = ml.y * wgt;
  FUSEKIT_UNROLL
  for (int w = 16; w >= 1; w /= 2) lsum += gpu::shfl_xor(lsum, w);
  const float inv = lsum != 0.f ? 1.f / lsum : 0.f;  // fully masked row: 0; a NaN sum stays NaN
  float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
  FUSEKIT_UNROLL
  for (int s = 0; s < attn_max_splits; ++s) {
    if (s < sp.splits) {  // (the same for the whole group: the shuffles stay converged)
      const float w = gpu::shfl(wgt, group_base + s);
      if (w != 0.f)  // w == 0: that split may have left its row unwritten: select, not multiply
        acc.x += w * v[s].x, acc.y += w * v[s].y, acc.z += w * v[s].z, acc.w += w * v[s].w;
    }
  }
  if (!here) return;
  T* dst = p.out.at(b, p.q_begin(b) + pr / G, hk * G + pr % G) + c;
  *reinterpret_cast<unsigned*>(dst) = pack2<T>(acc.x * inv, acc.y * inv);
  *reinterpret_cast<unsigned*>(dst + 2) = pack2<T>(acc.z * inv, acc.w * inv);
}

enum class AttnShape { narrow, wide, decode, narrow_cols };

// Calls fn(AttnMmaConfig<...>{}) for the padded head dim that holds `dim` (32, 64, 80, 96, 128, 256):
// wide: two row atoms per warp (128-row tiles), when that still gives every multiprocessor two tiles;
// decode: 16-row tiles whose 4 warps take different key tiles, when even 64-row tiles leave most
// multiprocessors idle (head dims up to 128: at 256 the per-warp key tiles are too short to pay);
// narrow_cols: the narrow tile with two warps per row atom, each accumulating half the head dim of P V,
// for head dims above 128 where the decode tile does not pay (Pi0's decode step: split keys, few tiles
// per block); narrow (64-row tiles) otherwise. (Alone, Pi0's decode step takes 10.1-10.3 us in 48-row
// tiles, 9.6-9.7 in 32, 9.4 in 32 with four column warps, against 10.4-10.6 in these 64 on H100
// (bench/experiments/decode_attention.cu, after the paired partial-row stores), but before those stores
// pi0-policy's denoise with 48-row tiles measured 0.7 ms slower, same machine, alternating: 8.99 against
// 8.26-8.34 ms; the 32-row four-column-warp tile (branch exp/colw4), 9.5 against 10.3 us alone, made the
// denoise 0.1-0.25 ms slower (twenty-ninth session). Kept at 64 until a smaller tile wins inside
// pi0-policy.) (2-warp 32-row tiles for SigLIP-sized problems measured slower on H200: 18.4 against
// 12.2 us. 4 K/V stages instead of 2 for head dim 256 measured no faster on H100:
// Pi0 decode 13.72 against 13.62 us, Pi0 prefill 43.87 against 42.70: the loads are not what waits.)
template <class T, class Fn>
void with_attention_config(index_t dim, AttnShape shape, Fn&& fn) {
  const bool wide = shape == AttnShape::wide;
  if (shape == AttnShape::narrow_cols) {
    FUSEKIT_CHECK(dim > 128, "attention: the column-warp tile (tiles 3) is built for head dims 129..256, not {}", dim);
    fn(AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 2>{});
  } else if (shape == AttnShape::decode) {
    if (dim <= 32) fn(AttnMmaConfig<T, 32, 4, 1, 64, 4>{});
    else if (dim <= 64) fn(AttnMmaConfig<T, 64, 4, 1, 64, 4>{});
    else if (dim <= 80) fn(AttnMmaConfig<T, 80, 4, 1, 32, 4>{});
    else if (dim <= 96) fn(AttnMmaConfig<T, 96, 4, 1, 32, 4>{});
    else if (dim <= 128) fn(AttnMmaConfig<T, 128, 4, 1, 32, 4>{});
    else fn(AttnMmaConfig<T, 256, 4, 1, 16, 4>{});
  } else if (dim <= 32) wide ? fn(AttnMmaConfig<T, 32, 4, 2, 64>{}) : fn(AttnMmaConfig<T, 32, 4, 1, 64>{});
  else if (dim <= 64) wide ? fn(AttnMmaConfig<T, 64, 4, 2, 64>{}) : fn(AttnMmaConfig<T, 64, 4, 1, 64>{});
  else if (dim <= 80) wide ? fn(AttnMmaConfig<T, 80, 4, 2, 32>{}) : fn(AttnMmaConfig<T, 80, 4, 1, 128>{});
  else if (dim <= 96) wide ? fn(AttnMmaConfig<T, 96, 4, 2, 32>{}) : fn(AttnMmaConfig<T, 96, 4, 1, 64>{});
  else if (dim <= 128) wide ? fn(AttnMmaConfig<T, 128, 4, 2, 32>{}) : fn(AttnMmaConfig<T, 128, 4, 1, 64>{});
  else fn(AttnMmaConfig<T, 256, 4, 1, 32>{});
}

}  // namespace kernels

template <>
struct OpImpl<op::Attention, HipBackend> {
  template <class T>
  static void run(const hip::Stream& s, const AttentionParams<T>& p, const AttentionOptions& opt) {
    FUSEKIT_CHECK(p.head_dim <= kernels::attn_simt_max_dim, "attention: head_dim {} ({}) exceeds the GPU kernels' {}",
                  p.head_dim, dtype_of<T>, kernels::attn_simt_max_dim);
    FUSEKIT_CHECK(p.batch * p.kv_heads <= index_t{65535}, "attention: batch {} x {} KV heads exceeds the grid limit 65535",
                  p.batch, p.kv_heads);
    FUSEKIT_CHECK(p.q_len * p.group() < index_t{1} << 31, "attention: {} query rows x {} heads per KV head exceed 2^31",
                  p.q_len, p.group());
    if constexpr (is_16bit_float<T>)
      if (opt.path == AttentionPath::automatic && mma_blocker(s, p).empty()) {
        const index_t bh = p.batch * p.kv_heads, rows = p.q_len * p.group(), sms = s.device().multiprocessors;
        FUSEKIT_CHECK(opt.tiles >= -1 && opt.tiles <= 3,
                      "attention: tiles {} does not exist (-1, 0 narrow, 1 wide, 2 decode, 3 narrow with column warps)",
                      opt.tiles);
        const index_t tiles64 = (rows + 63) / 64 * bh;
        const auto shape = opt.tiles >= 0                                ? static_cast<kernels::AttnShape>(opt.tiles)
                           : (rows + 127) / 128 * bh >= 2 * sms          ? kernels::AttnShape::wide
                           : tiles64 * 2 > sms                           ? kernels::AttnShape::narrow
                           : p.head_dim <= 128                           ? kernels::AttnShape::decode
                                                                         : kernels::AttnShape::narrow_cols;
        return kernels::with_attention_config<T>(p.head_dim, shape, [&](auto cfg) { run_mma<decltype(cfg)>(s, p, opt); });
      }
    run_simt(s, p);
  }

  // Empty when the matrix-core kernel can take this call.
  template <class T>
  static std::string mma_blocker(const hip::Stream& s, const AttentionParams<T>& p) {
    if constexpr (!is_16bit_float<T>) {
      return "it needs f16 or bf16";
    } else {
      if (!FUSEKIT_VENDOR_CUDA) return "it needs an NVIDIA GPU (sm_80+)";
      const std::string& arch = s.device().arch;
      if (arch.rfind("sm_", 0) != 0 || std::atoi(arch.c_str() + 3) < 80) return "it needs sm_80 or newer";
      if (p.head_dim % 8) return "head_dim must be a multiple of 8";
      auto aligned = [](const auto& t) {
        return reinterpret_cast<std::uintptr_t>(t.data) % 16 == 0 && t.batch_stride % 8 == 0 && t.token_stride % 8 == 0 &&
               t.head_stride % 8 == 0;
      };
      if (!aligned(p.q) || !aligned(p.k) || !aligned(p.v)) return "q, k, v need 16-byte aligned rows";
      if (reinterpret_cast<std::uintptr_t>(p.out.data) % 4 || p.out.batch_stride % 2 || p.out.token_stride % 2 ||
          p.out.head_stride % 2)
        return "out needs 4-byte aligned pairs";
      return {};
    }
  }

  template <class T>
  static void run_simt(const hip::Stream& s, const AttentionParams<T>& p) {
    const index_t tiles = (p.q_len * p.group() + kernels::attn_simt_rows - 1) / kernels::attn_simt_rows;
    hip::launch_dependent("attention_simt", kernels::attention_simt<T>,
                dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(p.batch * p.kv_heads)),
                dim3(kernels::attn_simt_threads), 0, s, p);
  }

  template <class Cfg, class T>
  static void run_mma(const hip::Stream& s, const AttentionParams<T>& p, const AttentionOptions& opt) {
    auto* kernel = kernels::attention_mma<T, Cfg>;
    const std::size_t smem_max = std::max(Cfg::smem, Cfg::cluster_smem);
    FUSEKIT_CHECK(Cfg::smem <= s.device().shared_memory_per_block_optin,
                  "attention: head_dim {} needs {} bytes of shared memory, the device allows {}", p.head_dim, Cfg::smem,
                  s.device().shared_memory_per_block_optin);
    static const bool ready = [&] {
      int arch = 0;
      FUSEKIT_GPU_CHECK(gpu::func_binary_arch(kernel, &arch));
      FUSEKIT_CHECK(arch >= 80, "attention: the matrix-core kernel was compiled for sm_{}; it needs sm_80 or newer (set "
                                "CMAKE_CUDA_ARCHITECTURES, e.g. 90a)", arch);
      const int optin = s.device().shared_memory_per_block_optin;
      FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(kernel, static_cast<int>(std::min<std::size_t>(smem_max, optin))));
      return true;
    }();
    (void)ready;
    // Splits combine in a cluster where the build has sm_90 code and the block's rows fit its shared memory.
    const bool cluster_ok = FUSEKIT_VENDOR_CUDA && opt.combine != AttentionSplitCombine::workspace &&
                            Cfg::cluster_smem <= s.device().shared_memory_per_block_optin && hip::has_sm90_code(kernel);
    FUSEKIT_CHECK(opt.combine != AttentionSplitCombine::cluster || cluster_ok,
                  "attention: combining key splits in a cluster needs an NVIDIA sm_90 GPU and a build for it (head_dim {}, "
                  "{} bytes of shared memory)", p.head_dim, Cfg::cluster_smem);
    const int forced_splits = opt.kv_splits;
    const index_t q_tiles = (p.q_len * p.group() + Cfg::BM - 1) / Cfg::BM;
    const index_t tiles = q_tiles * p.batch * p.kv_heads;
    const index_t key_tiles = std::max<index_t>(1, (p.kv_len + Cfg::BN - 1) / Cfg::BN);
    // Split the keys only when the tiles leave most multiprocessors idle.
    index_t splits = forced_splits;
    if (splits <= 0) {  // (a decode block's warps take Cfg::key_warps key tiles at a time)
      const index_t sms = s.device().multiprocessors, rounds = (key_tiles + Cfg::key_warps - 1) / Cfg::key_warps;
      // (Capping the splits so that their fp32 partial rows stay below their own K/V bytes measured
      // slower for the Pi0 decode step on H100: 12 splits 15.3 us, 16 14.1, the 25 chosen here 14.5.)
      splits = tiles * 2 > sms ? 1 : std::min<index_t>((sms + tiles - 1) / tiles, rounds);
      // (Capping them at a cluster's 8 to combine there measured slower for the Pi0 decode step on H200:
      // 15.0 us against 13.7 with 25 through the workspace; at equal counts both combines time the same.)
    }
    if (opt.combine == AttentionSplitCombine::cluster) splits = std::min<index_t>(splits, kernels::attn_max_cluster_splits);
    splits = std::clamp<index_t>(splits, 1, std::min<index_t>(key_tiles, kernels::attn_max_splits));
    kernels::AttnSplits sp;
    sp.q_tiles = static_cast<int>(q_tiles);
    if (splits > 1) {
      sp.tiles_per_split = static_cast<int>((key_tiles + splits - 1) / splits);
      sp.splits = static_cast<int>((key_tiles + sp.tiles_per_split - 1) / sp.tiles_per_split);  // none empty
    }
    if (sp.splits > 1 && cluster_ok && sp.splits <= kernels::attn_max_cluster_splits) sp.cluster = 1;
    if (sp.splits > 1 && !sp.cluster) {
      const std::size_t rows = static_cast<std::size_t>(tiles) * sp.splits * Cfg::BM;
      const std::size_t o_bytes = rows * Cfg::dim * sizeof(float);
      auto* ws = static_cast<unsigned char*>(s.workspace(o_bytes + rows * sizeof(float2), 2));
      sp.o = reinterpret_cast<float*>(ws);
      sp.ml = reinterpret_cast<float2*>(ws + o_bytes);
    }
    const dim3 grid(static_cast<unsigned>(q_tiles), static_cast<unsigned>(p.batch * p.kv_heads),
                    static_cast<unsigned>(sp.splits));
    hip::launch_with("attention_mma", kernel, grid, dim3(Cfg::threads), sp.cluster ? Cfg::cluster_smem : Cfg::smem, s,
                     hip::LaunchAttrs{.dependent = true, .cluster_z = sp.cluster ? static_cast<unsigned>(sp.splits) : 1u}, p, sp);
    if (sp.splits > 1 && !sp.cluster) launch_combine(s, p, sp, Cfg::BM, Cfg::dim, opt.combine_groups);
  }

  // One 32-lane group per 128 columns of a packed row; the fewest groups per block (8, 4, 2, 1) that
  // still give every multiprocessor a block, or `forced` (AttentionOptions::combine_groups).
  template <class T>
  static void launch_combine(const hip::Stream& s, const AttentionParams<T>& p, const kernels::AttnSplits& sp, int bm, int dp,
                             int forced) {
    FUSEKIT_CHECK(forced == 0 || forced == 1 || forced == 2 || forced == 4 || forced == 8,
                  "attention: combine_groups {} is not 0 (automatic), 1, 2, 4 or 8", forced);
    const index_t groups = p.q_len * p.group() * ((p.head_dim + kernels::attn_combine_cols - 1) / kernels::attn_combine_cols);
    const index_t bh = p.batch * p.kv_heads, sms = s.device().multiprocessors;
    int g = forced;
    if (g == 0) {
      g = 8;
      while (g > 1 && (groups + g - 1) / g * bh < sms) g /= 2;
    }
    auto go = [&](auto kernel, int gs) {
      hip::launch_dependent("attention_combine", kernel,
                            dim3(static_cast<unsigned>((groups + gs - 1) / gs), static_cast<unsigned>(bh)), dim3(gs * 32), 0, s,
                            p, sp, bm, dp);
    };
    switch (g) {
      case 1: go(kernels::attention_combine<T, 1>, 1); break;
      case 2: go(kernels::attention_combine<T, 2>, 2); break;
      case 4: go(kernels::attention_combine<T, 4>, 4); break;
      default: go(kernels::attention_combine<T, 8>, 8); break;
    }
  }
};

}  // namespace fusekit
#endif
