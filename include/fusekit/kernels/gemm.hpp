#pragma once
// GPU GEMM. Two kernels, one epilogue (kernels/gemm_tile.hpp), the policy at the bottom:
//  mma:  matrix-core tiles over the vendor's atom (MatrixAtom: MmaSm80 on NVIDIA sm_80+, MfmaCdna on AMD
//        CDNA, compile-only there), a kStages-deep cp.async pipeline of swizzled shared tiles, warps of
//        kWarpM x kWarpN atoms. Needs f16/bf16, A with dense rows (k contiguous), B with dense k (Linear
//        weight) or dense n, 16-byte aligned rows.
//  simt: fp32 FMA tiles for everything else (fp32, any strides and alignment, AMD until its matrix-core
//        atoms have run on a GPU): 64 x 64 tiles, 4 x 4 outputs per thread.
#include <algorithm>
#include <string>
#include <tuple>
#include <utility>

#include "fusekit/backend/hip/async_copy.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/kernels/conv_copier.hpp"
#include "fusekit/kernels/gemm_skinny.hpp"
#include "fusekit/kernels/gemm_small_m.hpp"
#include "fusekit/kernels/gemm_sm90.hpp"
#include "fusekit/kernels/gemm_tile.hpp"
#include "fusekit/kernels/mfma_atom.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/kernels/split_k.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {

// The mma kernel's atom: one source, the vendor's matrix cores (a warp of 32 lanes on NVIDIA, a
// wavefront of 64 on AMD CDNA; on AMD targets without MFMA, e.g. RDNA, the atom traps and the policy
// never launches it).
#if FUSEKIT_VENDOR_CUDA
template <class T>
using MatrixAtom = MmaSm80<T>;
inline constexpr int matrix_atom_lanes = 32;
#else
template <class T>
using MatrixAtom = MfmaCdna<T>;
inline constexpr int matrix_atom_lanes = 64;
#endif

// Tile configuration of the mma kernel: block tile BM x BN x BK, warps arranged WM x WN.
template <int BM_, int BN_, int WM_, int WN_, int kStages_>
struct MmaTile {
  static constexpr int BM = BM_, BN = BN_, BK = 32, WM = WM_, WN = WN_, kStages = kStages_;
  static constexpr int threads = matrix_atom_lanes * WM * WN;
  static constexpr int ld_acc = BN + 8;  // fp32 accumulator tile row (see MmaSm80::store_c)
};

template <class T, class Cfg, bool kBKMajor>
struct MmaSmem {
  using TileA = SwizzledTile<T, Cfg::BM, Cfg::BK>;                                  // [m][k]
  using TileB = std::conditional_t<kBKMajor, SwizzledTile<T, Cfg::BN, Cfg::BK>,    // [n][k]
                                   SwizzledTile<T, Cfg::BK, Cfg::BN>>;              // [k][n]
  static constexpr int stage_elems = TileA::elements + TileB::elements;
  static constexpr std::size_t bytes = std::max<std::size_t>(
      static_cast<std::size_t>(Cfg::kStages) * stage_elems * sizeof(T), std::size_t{4} * Cfg::BM * Cfg::ld_acc);
};

// The 16-byte chunks one thread copies into every pipeline stage, with their source pointers computed
// once: a k-tile only moves each pointer by k0 * kstep. (Recomputing tile coordinates per chunk and
// k-tile cost more issue slots than the MMAs themselves.) Chunks outside the matrix are zero-filled.
template <class T, int kChunks>
struct ChunkCopier {
  const T* src[kChunks];  // at k0 = 0
  int dst[kChunks];       // element offset in the stage's tile
  int k_at[kChunks];      // the chunk's k at k0 = 0 (k beyond K reads zeros)
  bool row_ok[kChunks];   // inside the matrix in its non-k dimension
  index_t kstep;          // elements between k and k + 1

  // Chunk i of an A tile: row m of a (-1: none), k offset k within a k-tile, tile offset d (-1: none).
  FUSEKIT_DEVICE void init(int i, const GemmOperand<const T>& a, index_t b, index_t m, int d, int k) {
    row_ok[i] = m >= 0;
    src[i] = m >= 0 ? a.at(b, m, k) : a.data;
    dst[i] = d;
    k_at[i] = k;
    kstep = 1;  // k contiguous
  }

  FUSEKIT_DEVICE void copy(T* tile, index_t k0, index_t k) const {
    FUSEKIT_UNROLL
    for (int i = 0; i < kChunks; ++i) {
      if (dst[i] < 0) continue;  // a thread beyond the tile's chunks (tiles smaller than the block)
      const bool ok = row_ok[i] && k0 + k_at[i] < k;
      gpu::copy_async16(tile + dst[i], ok ? src[i] + k0 * kstep : src[i], ok);
    }
  }
};

// Chunk copiers of the A tile, by A source: a strided matrix, or a convolution's implicit im2col.
template <class T, int kChunks, int kBK, class ASrc>
struct ACopierOf {
  using type = ChunkCopier<T, kChunks>;
};
template <class T, int kChunks, int kBK, class Pro>
struct ACopierOf<T, kChunks, kBK, ConvInput<T, Pro>> {
  using type = ConvChunkCopier<T, kChunks, kBK, Pro>;
};

template <class T, class Cfg, bool kBKMajor, class ASrc>
struct StageCopier {
  using S = MmaSmem<T, Cfg, kBKMajor>;
  static constexpr int ch = S::TileA::chunk;
  static constexpr int a_total = Cfg::BM * Cfg::BK / ch, b_total = Cfg::BN * Cfg::BK / ch;
  static constexpr int a_chunks = (a_total + Cfg::threads - 1) / Cfg::threads;
  static constexpr int b_chunks = (b_total + Cfg::threads - 1) / Cfg::threads;
  typename ACopierOf<T, a_chunks, Cfg::BK, ASrc>::type a;
  ChunkCopier<T, b_chunks> b;

  template <class O, class Epi>
  FUSEKIT_DEVICE StageCopier(const GemmParams<T, O, Epi, ASrc>& p, const GemmTileCoords<Cfg::BM, Cfg::BN, Epi>& tc,
                             index_t bi) {
    FUSEKIT_UNROLL
    for (int i = 0; i < a_chunks; ++i) {  // A: [BM rows][BK], k contiguous
      const int q = threadIdx.x + i * Cfg::threads, r = q / (Cfg::BK / ch), c = q % (Cfg::BK / ch);
      const index_t m = tc.m0 + r;
      a.init(i, p.a, bi, m < p.m && q < a_total ? m : -1, q < a_total ? S::TileA::offset(r, c) : -1, c * ch);
    }
    FUSEKIT_UNROLL
    for (int i = 0; i < b_chunks; ++i) {
      const int q = threadIdx.x + i * Cfg::threads;
      if constexpr (kBKMajor) {  // B: [BN rows = columns][BK], k contiguous
        const int t = q / (Cfg::BK / ch), c = q % (Cfg::BK / ch);
        const index_t n = q < b_total ? tc.acc_col(t, p.n) : -1;
        b.row_ok[i] = n >= 0;
        b.src[i] = n >= 0 ? p.b.at(bi, c * ch, n) : p.b.data;
        b.dst[i] = q < b_total ? S::TileB::offset(t, c) : -1;
        b.k_at[i] = c * ch;
      } else {  // B: [BK rows][BN columns], n contiguous
        const int r = q / (Cfg::BN / ch), c = q % (Cfg::BN / ch);
        const index_t n = q < b_total ? tc.acc_col(c * ch, p.n) : -1;
        b.row_ok[i] = n >= 0;
        b.src[i] = n >= 0 ? p.b.at(bi, r, n) : p.b.data;
        b.dst[i] = q < b_total ? S::TileB::offset(r, c) : -1;
        b.k_at[i] = r;
      }
    }
    b.kstep = kBKMajor ? 1 : p.b.row_stride;
  }

  FUSEKIT_DEVICE void copy(T* stage_a, T* stage_b, index_t k0, index_t k) const {
    a.copy(stage_a, k0, k);
    b.copy(stage_b, k0, k);
  }
};

template <class T, class O, class Epi, class ASrc, class Cfg, bool kBKMajor>
FUSEKIT_GLOBAL void __launch_bounds__(Cfg::threads) gemm_mma(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi, ASrc> p,
                                                             const SplitK sk) {
  using Atom = MatrixAtom<T>;
  using S = MmaSmem<T, Cfg, kBKMajor>;
  constexpr int WTM = Cfg::BM / Cfg::WM, WTN = Cfg::BN / Cfg::WN;  // warp tile
  constexpr int MT = WTM / Atom::kM, NT = WTN / Atom::kN;            // atoms per warp
  extern __shared__ __align__(16) unsigned char gemm_smem[];
  T* smem = reinterpret_cast<T*>(gemm_smem);  // (stage): [A tile | B tile]

  gpu::wait_for_prior_grid();  // launched dependent (launch_mma): earlier kernels' writes are visible
  const index_t bi = blockIdx.z;
  const GemmTileCoords<Cfg::BM, Cfg::BN, Epi> tc(p, blockIdx.x);
  const int warp = threadIdx.x / Atom::kLanes;
  const int wm0 = (warp / Cfg::WN) * WTM, wn0 = (warp % Cfg::WN) * WTN;

  typename Atom::C acc[MT][NT];  // (mt, nt): the warp's WTM x WTN outputs
  FUSEKIT_UNROLL
  for (int i = 0; i < MT; ++i)
    FUSEKIT_UNROLL
    for (int j = 0; j < NT; ++j) acc[i][j] = {{0.f, 0.f, 0.f, 0.f}};

  const StageCopier<T, Cfg, kBKMajor, ASrc> copier(p, tc, bi);
  const int all_tiles_k = static_cast<int>((p.k + Cfg::BK - 1) / Cfg::BK);
  const int kt0 = sk.splits > 1 ? static_cast<int>(blockIdx.y) * sk.tiles_per_split : 0;
  const int tiles_k = sk.splits > 1 ? std::min(sk.tiles_per_split, all_tiles_k - kt0) : all_tiles_k;
  auto stage_a = [&](int s) { return smem + s * S::stage_elems; };
  auto stage_b = [&](int s) { return smem + s * S::stage_elems + S::TileA::elements; };
  FUSEKIT_UNROLL
  for (int s = 0; s < Cfg::kStages - 1; ++s) {
    if (s < tiles_k) copier.copy(stage_a(s), stage_b(s), index_t{kt0 + s} * Cfg::BK, p.k);
    gpu::copy_async_commit();
  }
  for (int kt = 0; kt < tiles_k; ++kt) {
    gpu::copy_async_wait<Cfg::kStages - 2>();  // k-tile kt has landed
    if constexpr (requires { copier.a.transform(smem, index_t{0}, p.k); })  // an input prologue, applied
      copier.a.transform(stage_a(kt % Cfg::kStages), index_t{kt0 + kt} * Cfg::BK, p.k);  // to own chunks
    __syncthreads();                            // ... for every thread, and stage kt - 1 is free
    const int next = kt + Cfg::kStages - 1;
    if (next < tiles_k)
      copier.copy(stage_a(next % Cfg::kStages), stage_b(next % Cfg::kStages), index_t{kt0 + next} * Cfg::BK, p.k);
    gpu::copy_async_commit();
    const T* sa = stage_a(kt % Cfg::kStages);
    const T* sb = stage_b(kt % Cfg::kStages);
    // Every fragment of the k-tile is loaded before the first MMA, so the loads of later k-steps
    // overlap the MMAs of earlier ones.
    constexpr int KS = Cfg::BK / Atom::kK;
    typename Atom::A a[KS][MT];  // (k-step, mt)
    typename Atom::B b[KS][NT];  // (k-step, nt)
    FUSEKIT_UNROLL
    for (int ks = 0; ks < KS; ++ks) {
      Atom::template load_a<MT, typename S::TileA>(a[ks], sa, wm0, ks * Atom::kK);
      if constexpr (kBKMajor) Atom::template load_b_kmajor<NT, typename S::TileB>(b[ks], sb, wn0, ks * Atom::kK);
      else Atom::template load_b_nmajor<NT, typename S::TileB>(b[ks], sb, wn0, ks * Atom::kK);
    }
    FUSEKIT_UNROLL
    for (int ks = 0; ks < KS; ++ks)
      FUSEKIT_UNROLL
      for (int i = 0; i < MT; ++i)
        FUSEKIT_UNROLL
        for (int j = 0; j < NT; ++j) Atom::mma(acc[i][j], a[ks][i], b[ks][j]);
  }
  gpu::copy_async_wait<0>();
  gpu::allow_dependent_launch();
  if (sk.splits > 1 && !reduce_splits<Cfg::threads>(sk, bi * gridDim.x + blockIdx.x, reinterpret_cast<float(&)[MT * NT * 4]>(acc)))
    return;
  __syncthreads();  // the pipeline's shared memory becomes the accumulator tile
  float* sc = reinterpret_cast<float*>(gemm_smem);
  FUSEKIT_UNROLL
  for (int i = 0; i < MT; ++i)
    FUSEKIT_UNROLL
    for (int j = 0; j < NT; ++j) Atom::store_c(sc, Cfg::ld_acc, wm0 + i * Atom::kM, wn0 + j * Atom::kN, acc[i][j]);
  __syncthreads();
  store_tile<Cfg::BM, Cfg::BN, Cfg::threads>(p, tc, bi, sc, Cfg::ld_acc);
}

// ---- SIMT kernel: 64 x 64 x 16 tiles, 256 threads, 4 x 4 outputs each ----
inline constexpr int simt_bm = 64, simt_bn = 64, simt_bk = 16, simt_threads = 256;

template <class T, class O, class Epi, class ASrc>
FUSEKIT_GLOBAL void __launch_bounds__(simt_threads) gemm_simt(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi, ASrc> p) {
  __shared__ float sa[simt_bk][simt_bm + 1];             // (k, m); +1: the k-fastest writes hit 16 banks
  __shared__ float sb[simt_bk][simt_bn];                 // (k, n): tile columns
  __shared__ float sc[simt_bm * (simt_bn + 4)];          // (m, n) accumulators for the epilogue
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  const index_t bi = blockIdx.z;
  const GemmTileCoords<simt_bm, simt_bn, Epi> tc(p, blockIdx.x);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  float acc[4][4] = {};
  for (index_t k0 = 0; k0 < p.k; k0 += simt_bk) {
    for (int q = threadIdx.x; q < simt_bk * simt_bm; q += simt_threads) {
      const int kk = q % simt_bk, r = q / simt_bk;  // consecutive threads walk k: A rows are k-dense
      const index_t m = tc.m0 + r, k = k0 + kk;
      sa[kk][r] = m < p.m && k < p.k ? a_value(p.a, bi, m, k) : 0.f;
    }
    for (int q = threadIdx.x; q < simt_bk * simt_bn; q += simt_threads) {
      const int t = q % simt_bn, kk = q / simt_bn;
      const index_t n = tc.acc_col(t, p.n), k = k0 + kk;
      sb[kk][t] = n >= 0 && k < p.k ? to_float(*p.b.at(bi, k, n)) : 0.f;
    }
    __syncthreads();
    FUSEKIT_UNROLL
    for (int kk = 0; kk < simt_bk; ++kk) {
      float x[4], y[4];
      FUSEKIT_UNROLL
      for (int i = 0; i < 4; ++i) x[i] = sa[kk][ty * 4 + i];
      FUSEKIT_UNROLL
      for (int j = 0; j < 4; ++j) y[j] = sb[kk][tx * 4 + j];
      FUSEKIT_UNROLL
      for (int i = 0; i < 4; ++i)
        FUSEKIT_UNROLL
        for (int j = 0; j < 4; ++j) acc[i][j] += x[i] * y[j];
    }
    __syncthreads();
  }
  FUSEKIT_UNROLL
  for (int i = 0; i < 4; ++i)
    FUSEKIT_UNROLL
    for (int j = 0; j < 4; ++j) sc[(ty * 4 + i) * (simt_bn + 4) + tx * 4 + j] = acc[i][j];
  __syncthreads();
  store_tile<simt_bm, simt_bn, simt_threads>(p, tc, bi, sc, simt_bn + 4);
}

// The mma kernel's tile configurations, largest first (GemmOptions::tile indexes this list).
// The last one is for M <= 16 (decode-time projections): one atom row, a deeper pipeline to keep
// enough weight bytes in flight, usually with split-K.
using MmaTiles = std::tuple<MmaTile<128, 128, 2, 4, 4>, MmaTile<128, 64, 2, 2, 4>, MmaTile<64, 128, 2, 2, 4>,
                            MmaTile<64, 64, 2, 2, 4>, MmaTile<16, 128, 1, 4, 6>>;
inline constexpr int mma_tile_count = static_cast<int>(std::tuple_size_v<MmaTiles>);
inline constexpr int mma_small_m_tile = mma_tile_count - 1;
// AMD (compile-only) builds the 64 x 64 tile alone: it fits the 64 KiB of LDS a CDNA workgroup has, and
// one tile keeps the AMD compile of every instantiated GEMM short until the atom has run anywhere.
inline constexpr int mma_amd_tile = 3;

// fn(element `tile` of the tuple of tile configurations Tiles), the tile as a value of its type.
template <class Tiles, class Fn, std::size_t... I>
void with_tile(int tile, Fn&& fn, std::index_sequence<I...>) {
  ((tile == static_cast<int>(I) ? (fn(std::tuple_element_t<I, Tiles>{}), 0) : 0), ...);
}
template <class Tiles = MmaTiles, class Fn>
void with_tile(int tile, Fn&& fn) {
  with_tile<Tiles>(tile, fn, std::make_index_sequence<std::tuple_size_v<Tiles>>{});
}

}  // namespace kernels

// Kernel choice (the policy):
//   wgmma for M > 64 when the operands allow it (kernels/gemm_sm90.hpp) on an sm_90 GPU with sm_90a
//         code in the binary: tile and split-K in run_wgmma
//   mma   when the operands allow it (see kernels above) on NVIDIA sm_80+: tile and split-K in run_mma
//         and plan_splits
//   small_m for M <= 16 on NVIDIA sm_80+ when the operands allow it (kernels/gemm_small_m.hpp): the
//         weights streamed once through the matrix cores, K split over warps and blocks (run_small_m)
//   skinny for M <= 16 (kernels/gemm_skinny.hpp) where mma cannot run, when the operands allow it and
//         no tile or split-K factor is forced: the weights streamed once, any vendor
//   simt  otherwise
template <>
struct OpImpl<op::Gemm, HipBackend> {
  template <class T, class O, class Epi>
  static void run(const hip::Stream& s, const GemmParams<T, O, Epi>& p, const GemmOptions& opt) {
    if (wants_small_m(p, opt)) {
      const std::string why = small_m_blocker(s, p);
      FUSEKIT_CHECK(opt.path != GemmPath::small_m || why.empty(), "gemm: the small_m path was forced but {}", why);
      if (why.empty()) {
        if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
          run_small_m(s, p, opt.splits, opt.tile);
          return;
        }
      }
    }
    // Skinny only where the mma kernel cannot run (AMD today, pre-sm_80): on H200 it measured 1.9-4.3x
    // slower than the mma kernel's small-M tile with split-K at Pi0's 11-row shapes (docs/performance.md).
    if (opt.path == GemmPath::skinny || (opt.path == GemmPath::automatic && opt.tile < 0 && opt.splits == 0 &&
                                         p.m <= kernels::skinny_max_m && (!FUSEKIT_VENDOR_CUDA || !mma_blocker(s, p).empty()))) {
      const std::string why = skinny_blocker(p);
      FUSEKIT_CHECK(opt.path != GemmPath::skinny || why.empty(), "gemm: the skinny path was forced but {}", why);
      if (why.empty()) {
        if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
          FUSEKIT_CHECK(p.batch <= 65535, "gemm: batch {} exceeds the GPU grid limit (65535)", p.batch);
          const index_t cols_per_block = index_t{kernels::skinny_threads / s.device().warp_size} * kernels::skinny_cols;
          hip::launch_dependent("gemm_skinny", kernels::gemm_skinny<T, O, Epi>,
                      dim3(static_cast<unsigned>((p.n_out + cols_per_block - 1) / cols_per_block), 1,
                           static_cast<unsigned>(p.batch)),
                      dim3(kernels::skinny_threads), 0, s, p);
          return;
        }
      }
    }
    if (opt.path == GemmPath::wgmma || (opt.path == GemmPath::automatic && p.m > 64)) {
      const std::string why = wgmma_blocker(s, p);
      FUSEKIT_CHECK(opt.path != GemmPath::wgmma || why.empty(), "gemm: the wgmma path was forced but {}", why);
      if (why.empty()) {
        if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
          run_wgmma(s, p, opt);
          return;
        }
      }
    }
    if (use_mma("gemm", p, mma_blocker(s, p), opt.path, opt.tile)) {
      if constexpr (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>) {
        if (p.b.row_stride == 1 && p.k > 1) run_mma<true>(s, p, opt);  // k-major B (Linear weight)
        else run_mma<false>(s, p, opt);
        return;
      }
    }
    launch_simt(s, p);
  }

  // ---- shared with the convolution (kernels/conv.hpp), which brings its own A source and policy ----

  // Checks the launch and the forced choices; true when the mma kernel runs (why: empty when it can).
  // On AMD only when forced: its MFMA atom is compile-only (never run on a GPU), so the automatic
  // choice stays with the SIMT kernel there.
  template <class P>
  static bool use_mma(const char* op, const P& p, const std::string& why, GemmPath path, int tile) {
    FUSEKIT_CHECK(p.batch <= 65535, "{}: batch {} exceeds the GPU grid limit (65535)", op, p.batch);
    FUSEKIT_CHECK(path != GemmPath::mma || why.empty(), "{}: the mma path was forced but {}", op, why);
    FUSEKIT_CHECK(tile < kernels::mma_tile_count, "{}: tile {} does not exist (0..{})", op, tile,
                  kernels::mma_tile_count - 1);
    FUSEKIT_CHECK(FUSEKIT_VENDOR_CUDA || path != GemmPath::mma || tile < 0 || tile == kernels::mma_amd_tile,
                  "{}: on AMD the mma path has one tile, {} (64 x 64), not {}", op, kernels::mma_amd_tile, tile);
    return path != GemmPath::simt && why.empty() && (FUSEKIT_VENDOR_CUDA || path == GemmPath::mma);
  }

  // Empty when this device and dtype have mma atoms, else the reason.
  template <class T>
  static std::string mma_device_blocker(const hip::Stream& s) {
    if constexpr (!(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
      return fmt::format("it needs f16 or bf16 operands (got {})", dtype_of<T>);
    } else {
      const std::string& arch = s.device().arch;
      if (!FUSEKIT_VENDOR_CUDA) {  // CDNA with MFMA (the names may carry features: "gfx90a:sramecc+:xnack-")
        for (const char* mfma : {"gfx908", "gfx90a", "gfx940", "gfx941", "gfx942"})
          if (arch.rfind(mfma, 0) == 0) return {};
        return fmt::format("it needs an AMD GPU with MFMA matrix cores (gfx908, gfx90a, gfx94x; this one is {})", arch);
      }
      if (arch.rfind("sm_", 0) != 0 || std::stoi(arch.substr(3)) < 80)
        return fmt::format("it needs an NVIDIA sm_80+ GPU (this one is {})", arch);
      return {};
    }
  }
  template <class T, class O, class Epi, class ASrc>
  static void launch_simt(const hip::Stream& s, const GemmParams<T, O, Epi, ASrc>& p) {
    const index_t tiles = tiles_of(p, kernels::simt_bm, kernels::simt_bn);
    hip::launch_dependent("gemm_simt", kernels::gemm_simt<T, O, Epi, ASrc>,
                dim3(static_cast<unsigned>(tiles), 1, static_cast<unsigned>(p.batch)), dim3(kernels::simt_threads), 0,
                s, p);
  }

  template <class P>
  static index_t tiles_of(const P& p, int bm, int bn) {
    const int out_cols = P::epilogue_type::gated ? bn / 2 : bn;
    return ((p.m + bm - 1) / bm) * ((p.n_out + out_cols - 1) / out_cols);
  }

  // Empty when the skinny kernel can run this problem, else the reason.
  template <class T, class O, class Epi>
  static std::string skinny_blocker(const GemmParams<T, O, Epi>& p) {
    if constexpr (!(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
      return fmt::format("it needs f16 or bf16 operands (got {})", dtype_of<T>);
    } else {
      auto aligned = [](const void* ptr, index_t stride, index_t batch_stride) {
        return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0 && stride % 8 == 0 && batch_stride % 8 == 0;
      };
      if (p.m > kernels::skinny_max_m) return fmt::format("it takes at most {} rows (M = {})", kernels::skinny_max_m, p.m);
      if (p.k % 8 != 0 || p.a.col_stride != 1 || !aligned(p.a.data, p.a.row_stride, p.a.batch_stride))
        return fmt::format("A needs dense 16-byte aligned rows and K % 8 == 0 (A strides [{}, {}], K {})", p.a.row_stride,
                           p.a.col_stride, p.k);
      if (p.b.row_stride != 1 || !aligned(p.b.data, p.b.col_stride, p.b.batch_stride))
        return fmt::format("B needs dense 16-byte aligned k (a Linear weight W [N, K] as B = W^T; B strides [{}, {}])",
                           p.b.row_stride, p.b.col_stride);
      return {};
    }
  }

  // Empty when the small_m kernel can run this problem: mma atoms here, and the skinny kernel's operands.
  template <class T, class O, class Epi>
  static std::string small_m_blocker(const hip::Stream& s, const GemmParams<T, O, Epi>& p) {
    if (std::string why = mma_device_blocker<T>(s); !why.empty()) return why;
    return skinny_blocker(p);
  }

#if FUSEKIT_VENDOR_CUDA
  // Split K across blocks while the grid still fits one block per multiprocessor and every warp keeps a
  // whole chunk of 4 k-steps (at most 8 splits in a cluster on sm_90, else 16 through the workspace),
  // then cut each split's k-steps into chunks of up to 4 so that every warp has one: all of the weight
  // in flight at once, in 16-byte loads.
  // The block shape (kernels::SmallMShapes): 4 warps per block once there are two 16-column blocks per
  // multiprocessor, else 8; `tile` forces one.
  template <class NW = void, class T, class O, class Epi, class NormW = std::conditional_t<std::is_void_v<NW>, T, NW>>
  static void run_small_m(const hip::Stream& s, const GemmParams<T, O, Epi>& p, int forced_splits, int tile,
                          const GemmRowNorm<NormW>& norm = {}) {
    FUSEKIT_CHECK(tile >= -1 && tile < kernels::small_m_shape_count,
                  "gemm: the small_m path has block shapes 0..{} (tile {})", kernels::small_m_shape_count - 1, tile);
    const index_t blocks = tiles_of(p, kernels::small_m_max_m, 16) * p.batch;
    const int shape = tile >= 0 ? tile : blocks >= 2 * s.device().multiprocessors ? 1 : 0;
    kernels::with_tile<kernels::SmallMShapes>(
        shape, [&](auto sh) { launch_small_m<NW, decltype(sh)>(s, p, forced_splits, norm); });
  }
  template <class NW, class Shape, class T, class O, class Epi, class NormW>
  static void launch_small_m(const hip::Stream& s, const GemmParams<T, O, Epi>& p, int forced,
                             const GemmRowNorm<NormW>& norm) {
    FUSEKIT_CHECK(p.batch <= 65535, "gemm: batch {} exceeds the GPU grid limit (65535)", p.batch);
    auto* kernel = kernels::gemm_small_m<T, O, Epi, NW, Shape>;
    const bool clusters = s.device().arch == "sm_90" && hip::has_sm90_code(kernel);
    const index_t tiles = tiles_of(p, kernels::small_m_max_m, Shape::cols);
    const index_t blocks = tiles * p.batch, steps = std::max<index_t>((p.k + 31) / 32, 1);
    const index_t sms = s.device().multiprocessors;
    // Split only while every warp keeps a whole chunk and the grid still fits one block per SM (H100,
    // 11 rows: 2560x1024 6.1 us unsplit, 7.2 in 2, 11.2 in 4; 1024x4096 11.1 / 9.3 / 9.0 in 1 / 2 / 4).
    const index_t full_chunks = steps / (Shape::warps * Shape::steps);
    index_t splits = forced > 0 ? forced : std::min<index_t>({sms / blocks, full_chunks, clusters ? 8 : 16});
    splits = std::clamp<index_t>(splits, 1, steps);
    const index_t chunk_steps =
        std::clamp<index_t>((steps + Shape::warps * splits - 1) / (Shape::warps * splits), 1, Shape::steps);
    const index_t chunks = (steps + chunk_steps - 1) / chunk_steps;
    kernels::SplitK sk;
    sk.tiles_per_split = static_cast<int>((chunks + splits - 1) / splits);
    sk.splits = static_cast<int>((chunks + sk.tiles_per_split - 1) / sk.tiles_per_split);  // none empty
    if (sk.splits > 1 && clusters && sk.splits <= 8) {
      sk.cluster = 1;
    } else if (sk.splits > 1) {
      split_workspace(s, sk, blocks, std::size_t{kernels::small_m_max_m} * Shape::cols);
    }
    hip::launch_with("gemm_small_m", kernel,
                     dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(sk.splits), static_cast<unsigned>(p.batch)),
                     dim3(Shape::threads), 0, s, hip::LaunchAttrs{true, sk.cluster ? static_cast<unsigned>(sk.splits) : 1u},
                     p, sk, static_cast<int>(chunk_steps), norm);
  }
#else
  template <class NW = void, class T, class O, class Epi, class NormW = std::conditional_t<std::is_void_v<NW>, T, NW>>
  static void run_small_m(const hip::Stream&, const GemmParams<T, O, Epi>&, int, int, const GemmRowNorm<NormW>& = {}) {}
#endif

  // Forced, or the policy's M <= 16 with no tile forced (then small_m, else skinny, if they can run it).
  template <class P>
  static bool wants_small_m(const P& p, const GemmOptions& opt) {
    return opt.path == GemmPath::small_m ||
           (opt.path == GemmPath::automatic && opt.tile < 0 && p.m <= kernels::skinny_max_m);
  }

  // gemm_rmsnorm's fused path (ops/gemm_rmsnorm.hpp): true when the small_m kernel took the problem with
  // the RMSNorm applied to A inside it; false when the caller must normalise A first (other paths, or a
  // weight not aligned to 16 bytes).
  template <class T, class O, class Epi, class W>
  static bool run_row_norm(const hip::Stream& s, const GemmParams<T, O, Epi>& p, const GemmOptions& opt,
                           const GemmRowNorm<W>& norm) {
    const bool wants = wants_small_m(p, opt);
    const bool weight_ok = std::is_same_v<W, NormWeightFolded> || reinterpret_cast<std::uintptr_t>(norm.weight) % 16 == 0;
    if (!wants || !small_m_blocker(s, p).empty() || !weight_ok) return false;
    if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
      run_small_m<W>(s, p, opt.splits, opt.tile, norm);
      return true;
    }
    return false;
  }

  // Empty when the mma kernel can run this problem, else the reason.
  template <class T, class O, class Epi>
  static std::string mma_blocker(const hip::Stream& s, const GemmParams<T, O, Epi>& p) {
    if (std::string why = mma_device_blocker<T>(s); !why.empty()) return why;
    auto aligned = [](const void* ptr, index_t stride) {
      return reinterpret_cast<std::uintptr_t>(ptr) % 16 == 0 && stride % 8 == 0;
    };
    if (p.a.col_stride != 1 || !aligned(p.a.data, p.a.row_stride) || p.a.batch_stride % 8 != 0 || p.k % 8 != 0)
      return fmt::format("A needs dense rows (column stride 1), 16-byte aligned rows and K % 8 == 0 (A strides "
                         "[{}, {}], K {})", p.a.row_stride, p.a.col_stride, p.k);
    const bool kmajor = p.b.row_stride == 1 && p.k > 1;
    const index_t lead = kmajor ? p.b.col_stride : p.b.row_stride;
    const index_t inner = kmajor ? p.k : (Epi::gated && p.epi.gate_layout() == GateLayout::concatenated ? p.n_out : p.n);
    if ((!kmajor && p.b.col_stride != 1) || !aligned(p.b.data, lead) || p.b.batch_stride % 8 != 0 || inner % 8 != 0)
      return fmt::format("B needs k or n dense (stride 1), 16-byte aligned lines and that extent % 8 == 0 (B "
                         "strides [{}, {}], K {}, N {})", p.b.row_stride, p.b.col_stride, p.k, p.n);
    return {};
  }

  // Tile: M <= 16 takes the small-M tile; otherwise the largest tile that still gives every
  // multiprocessor a block, else the 64 x 64 one. (Preferring a smaller tile that pads less was
  // measured slower: conv 3x3 192 -> 192 batch 256 on H100, 128 x 64 tiles 650 us, 128 x 128 557 us.)
  template <bool kBKMajor, class T, class O, class Epi, class ASrc>
  static void run_mma(const hip::Stream& s, const GemmParams<T, O, Epi, ASrc>& p, const GemmOptions& opt) {
    if constexpr (!FUSEKIT_VENDOR_CUDA) {
      launch_mma<std::tuple_element_t<kernels::mma_amd_tile, kernels::MmaTiles>, kBKMajor>(s, p, opt.splits);
    } else {
      int tile = opt.tile;
      if (tile < 0) {
        tile = p.m <= 16 ? kernels::mma_small_m_tile : kernels::mma_small_m_tile - 1;
        const index_t sms = s.device().multiprocessors;
        for (int i = kernels::mma_small_m_tile - 2; i >= 0 && p.m > 16; --i)  // smaller tiles first: keep the
          kernels::with_tile(i, [&](auto cfg) {                           // largest that fills the device
            if (tiles_of(p, decltype(cfg)::BM, decltype(cfg)::BN) * p.batch >= sms) tile = i;
          });
      }
      kernels::with_tile(tile, [&](auto cfg) { launch_mma<decltype(cfg), kBKMajor>(s, p, opt.splits); });
    }
  }

  // Split-K when the tiles alone leave multiprocessors idle: enough splits for two blocks per
  // multiprocessor, each with at least 4 k-tiles, at most 16. cluster (wgmma kernel): at most 8 splits
  // that sum through shared memory, no workspace.
  static kernels::SplitK plan_splits(const hip::Stream& s, index_t tiles, index_t k, int bk, int bm, int bn,
                                     int forced, bool cluster = false) {
    kernels::SplitK sk;
    const index_t tiles_k = (k + bk - 1) / bk;
    index_t splits = forced;
    if (splits <= 0) {
      const index_t target = 2 * static_cast<index_t>(s.device().multiprocessors);
      splits = tiles >= target / 2 ? 1 : std::min<index_t>({(target + tiles - 1) / tiles, tiles_k / 4, 16});
    }
    splits = std::clamp<index_t>(splits, 1, std::max<index_t>(tiles_k, 1));
    if (splits <= 1) return sk;
    sk.tiles_per_split = static_cast<int>((tiles_k + splits - 1) / splits);
    sk.splits = static_cast<int>((tiles_k + sk.tiles_per_split - 1) / sk.tiles_per_split);  // none empty
    if (sk.splits <= 1) return kernels::SplitK{};
    if (cluster) {
      FUSEKIT_CHECK(sk.splits <= 8, "gemm: {} splits do not fit a cluster (at most 8)", sk.splits);
      sk.cluster = 1;
      return sk;
    }
    split_workspace(s, sk, tiles, static_cast<std::size_t>(bm) * bn);
    return sk;
  }

  // The split-K workspace of `tiles` tiles of `tile_floats` partial sums: the partials in workspace slot
  // 0, the tile counters in slot 3, which holds nothing else, so the counters are zero whatever the
  // ops before wrote (a counter array in front of the partials would overlap an earlier, smaller
  // counter array's partials).
  static void split_workspace(const hip::Stream& s, kernels::SplitK& sk, index_t tiles, std::size_t tile_floats) {
    sk.counters = static_cast<unsigned*>(s.workspace(static_cast<std::size_t>(tiles) * sizeof(unsigned), 3));
    sk.partials = static_cast<float*>(s.workspace(static_cast<std::size_t>(tiles) * sk.splits * tile_floats * sizeof(float), 0));
  }

  // ---- the Hopper kernel (kernels/gemm_sm90.hpp), shared with the convolution ----

  // Empty when this GPU and binary can run the wgmma kernel for these types (Tiles: its tile list).
  template <class T, class O, class Epi, class ASrc, class Tiles>
  static std::string wgmma_device_blocker(const hip::Stream& s) {
#if !FUSEKIT_VENDOR_CUDA
    (void)s;
    return "it needs an NVIDIA sm_90 GPU";
#else
    if constexpr (!(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
      return "it needs f16 or bf16 operands";
    } else {
      if (s.device().arch != "sm_90") return fmt::format("it needs an NVIDIA sm_90 GPU (this one is {})", s.device().arch);
      static const bool compiled = [] {  // only the kernel's sm_90a body declares static shared memory; an
        std::size_t bytes = 0;           // sm_80 or plain sm_90 build holds a stub that traps
        FUSEKIT_GPU_CHECK(gpu::func_static_smem(kernels::gemm_wgmma<T, O, Epi, ASrc, std::tuple_element_t<0, Tiles>>, &bytes));
        return bytes > 0;
      }();
      if (!compiled) return "this binary holds no sm_90a code for it (build with CMAKE_CUDA_ARCHITECTURES including 90a)";
      return {};
    }
#endif
  }

  // Empty when the wgmma kernel can run this GEMM here, else the reason.
  template <class T, class O, class Epi>
  static std::string wgmma_blocker(const hip::Stream& s, const GemmParams<T, O, Epi>& p) {
    if (std::string why = mma_blocker(s, p); !why.empty()) return why;
    if (!(p.b.row_stride == 1 && p.k > 1)) return "it needs a k-major B (a Linear weight W [N, K], B = its transpose)";
    auto fits = [&](index_t batch_stride, index_t rows, index_t row_stride) {
      return batch_stride == 0 || batch_stride >= rows * row_stride;  // TMA: batches must not overlap
    };
    if (!fits(p.a.batch_stride, p.m, p.a.row_stride) || !fits(p.b.batch_stride, p.n, p.b.col_stride))
      return fmt::format("it needs batch strides of 0 or at least one matrix (A {}, B {})", p.a.batch_stride,
                         p.b.batch_stride);
    if (p.m >= (index_t{1} << 31) || p.n >= (index_t{1} << 31) || p.k >= (index_t{1} << 31))
      return "it needs M, N and K below 2^31";
#if FUSEKIT_VENDOR_CUDA
    return wgmma_device_blocker<T, O, Epi, GemmOperand<const T>, kernels::WgmmaTiles>(s);
#else
    return "it needs an NVIDIA sm_90 GPU";
#endif
  }

  // Splits for a wgmma launch of `tiles` blocks (one block per multiprocessor at a time): none when the
  // tiles fill at least half of the multiprocessors, else as many as keep one wave, at most 8: the
  // splits of a tile form a cluster and sum through shared memory, each storing a share of the rows,
  // so even one k-tile per split pays (a batch-1 KataGo conv is 6 tiles). (Splitting 140 or 162 tiles
  // on 132 multiprocessors in 2, to trade 2 waves of whole tiles for 3 of halves, was measured slower on
  // H100 with the workspace reduction: 788x2560x2048 32 -> 40 us, 768x3456x1152 25 -> 36 us.)
  static int wgmma_splits(const hip::Stream& s, index_t tiles, index_t k, int bk, int forced) {
    if (forced > 0) return forced;
    const index_t sms = s.device().multiprocessors, tiles_k = (k + bk - 1) / bk;
    return tiles * 2 > sms ? 1 : static_cast<int>(std::max<index_t>(1, std::min<index_t>({sms / tiles, tiles_k, 8})));
  }

  // The wgmma tile (0: 128 x 128, 1: 128 x 256) of the smaller estimated time: rounds of blocks times a
  // block's fixed cost (set-up, first loads, epilogue; + 1.5 us per split-K split) and its k-tiles. The
  // constants are H100 block timelines (bench/wgmma_timeline.cpp, docs/performance.md): a 128 x 256
  // k-tile takes 0.59 us against 0.37 us for 128 x 128 (the wider tile reuses each A load for twice the
  // columns), fixed costs 7.0 and 5.3 us. So 788 x 2560 x 2048 runs 70 wide tiles in one round (25 us)
  // rather than 140 narrow ones in two (31 us), and 788 x 2048 x 16384 wide tiles split in 2 (92 us)
  // rather than 112 narrow ones (134 us). A pair stage (epi::rope) keeps 128 x 128: its epilogue is
  // most of the tile's time (788 x 2560 x 2048 with RoPE and cache stores: 51.6 us narrow against 67.3
  // wide before the epilogue's column plans; with them, in the timeline tool, 42.5 against 41.2, too
  // close to switch unmeasured end to end).
  template <class T, class O, class Epi>
  static int wgmma_tile_choice(const hip::Stream& s, const GemmParams<T, O, Epi>& p, int forced_splits) {
    if constexpr (Epi::paired) return 0;
    const index_t sms = s.device().multiprocessors, tiles_k = (p.k + 63) / 64;
    auto estimate = [&](int bn, double per_k_tile, double fixed) {
      const index_t tiles = tiles_of(p, 128, bn) * p.batch;
      const index_t splits = wgmma_splits(s, tiles, p.k, 64, forced_splits);
      const index_t rounds = (tiles * splits + sms - 1) / sms;
      const double split_cost = splits > 1 ? 1.5 * static_cast<double>(splits) : 0.0;
      return static_cast<double>(rounds) * (fixed + split_cost + per_k_tile * static_cast<double>((tiles_k + splits - 1) / splits));
    };
    return estimate(256, 0.59, 7.0) < estimate(128, 0.37, 5.3) ? 1 : 0;
  }

#if FUSEKIT_VENDOR_CUDA
  // Tile: the estimate's choice (wgmma_tile_choice).
  template <class T, class O, class Epi>
  static void run_wgmma(const hip::Stream& s, const GemmParams<T, O, Epi>& p, const GemmOptions& opt) {
    FUSEKIT_CHECK(opt.tile < kernels::wgmma_tile_count, "gemm: wgmma tile {} does not exist (0..{})", opt.tile,
                  kernels::wgmma_tile_count - 1);
    const int tile = opt.tile >= 0 ? opt.tile : wgmma_tile_choice(s, p, opt.splits);
    kernels::with_tile<kernels::WgmmaTiles>(tile, [&](auto cfg) {
      using Cfg = decltype(cfg);
      launch_wgmma<Cfg>(s, p, wgmma_splits(s, tiles_of(p, Cfg::BM, Cfg::BN) * p.batch, p.k, Cfg::BK, opt.splits));
    });
  }

  // im2col: a convolution's A by TMA in im2col mode (the caller has checked it applies), else gathered.
  template <class Cfg, class T, class O, class Epi, class ASrc>
  static void launch_wgmma(const hip::Stream& s, const GemmParams<T, O, Epi, ASrc>& p, int splits, bool im2col = false) {
    FUSEKIT_CHECK(p.batch <= 65535, "gemm: batch {} exceeds the GPU grid limit (65535)", p.batch);
    auto* kernel = kernels::gemm_wgmma<T, O, Epi, ASrc, Cfg>;
    static const bool ready = [&] {
      FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(kernel, static_cast<int>(Cfg::smem)));
      return true;
    }();
    (void)ready;
    FUSEKIT_CHECK(Cfg::smem <= s.device().shared_memory_per_block_optin,
                  "gemm: wgmma tile {}x{} needs {} bytes of shared memory, the device allows {}", Cfg::BM, Cfg::BN,
                  Cfg::smem, s.device().shared_memory_per_block_optin);
    constexpr bool bf16 = std::is_same_v<T, bfloat16>;
    // TMA views, innermost first: A [batch][M][K], B (the weight W) [batch][N][K]
    auto map = [&](const T* base, index_t rows, index_t row_stride, index_t batch_stride, int box_rows, const char* what) {
      const bool batched = batch_stride != 0;
      const std::uint64_t dims[3] = {static_cast<std::uint64_t>(p.k), static_cast<std::uint64_t>(rows),
                                     static_cast<std::uint64_t>(batched ? p.batch : 1)};
      const std::uint64_t strides[2] = {static_cast<std::uint64_t>(row_stride) * sizeof(T),
                                        static_cast<std::uint64_t>(batched ? batch_stride : rows * row_stride) * sizeof(T)};
      return gpu::tensor_map_16bit(base, bf16, dims, strides, Cfg::BK, static_cast<unsigned>(box_rows), what);
    };
    gpu::TensorMap ta{};  // a convolution's A: im2col, or gathered by the kernel itself
    if constexpr (std::is_same_v<ASrc, GemmOperand<const T>>) {
      ta = map(p.a.data, p.m, p.a.row_stride, p.a.batch_stride, Cfg::BM, "gemm A");
    } else if (im2col) {  // NHWC x as (C, W, H, N), innermost first
      const auto& a = p.a;
      const std::uint64_t dims[4] = {static_cast<std::uint64_t>(a.s.cin), static_cast<std::uint64_t>(a.s.w),
                                     static_cast<std::uint64_t>(a.s.h), static_cast<std::uint64_t>(a.s.n)};
      const std::uint64_t strides[3] = {static_cast<std::uint64_t>(a.xs[3]) * sizeof(T),
                                        static_cast<std::uint64_t>(a.xs[2]) * sizeof(T),
                                        static_cast<std::uint64_t>(a.xs[0]) * sizeof(T)};
      ta = gpu::tensor_map_im2col_16bit(a.x, bf16, dims, strides, static_cast<int>(a.s.kw), static_cast<int>(a.s.pad()),
                                        Cfg::BM, "conv2d input x (im2col)");
    }
    const gpu::TensorMap tb = map(p.b.data, p.n, p.b.col_stride, p.b.batch_stride, Cfg::BN / 2, "gemm B (weight)");
    const index_t tiles = tiles_of(p, Cfg::BM, Cfg::BN);
    // Up to 8 splits sum inside a cluster (kernels::reduce_cluster_rows), more through the workspace.
    const kernels::SplitK sk = plan_splits(s, tiles * p.batch, p.k, Cfg::BK, Cfg::BM, Cfg::BN, splits, splits <= 8);
    bool a_batched = true;
    if constexpr (std::is_same_v<ASrc, GemmOperand<const T>>) a_batched = p.a.batch_stride != 0;
    // Dependent launch: the kernel waits for earlier grids after its barrier set-up and B prefetch.
    hip::launch_with("gemm_wgmma", kernel,
                     dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(sk.splits), static_cast<unsigned>(p.batch)),
                     dim3(Cfg::threads), Cfg::smem, s, hip::LaunchAttrs{true, sk.cluster ? static_cast<unsigned>(sk.splits) : 1u},
                     p, ta, tb, kernels::WgmmaBatch{a_batched, p.b.batch_stride != 0, im2col ? 1 : 0}, sk);
  }
#else
  template <class T, class O, class Epi>
  static void run_wgmma(const hip::Stream&, const GemmParams<T, O, Epi>&, const GemmOptions&) {}
#endif

  template <class Cfg, bool kBKMajor, class T, class O, class Epi, class ASrc>
  static void launch_mma(const hip::Stream& s, const GemmParams<T, O, Epi, ASrc>& p, int splits) {
    auto* kernel = kernels::gemm_mma<T, O, Epi, ASrc, Cfg, kBKMajor>;
    constexpr std::size_t smem = kernels::MmaSmem<T, Cfg, kBKMajor>::bytes;
    static const bool ready = [&] {  // once per kernel: opt in to > 48 KiB and check the binary's arch
      int arch = 0;
      FUSEKIT_GPU_CHECK(gpu::func_binary_arch(kernel, &arch));
      FUSEKIT_CHECK(!FUSEKIT_VENDOR_CUDA || arch >= 80,
                    "gemm: the mma kernel was compiled for sm_{}; it needs sm_80 or newer (set "
                    "CMAKE_CUDA_ARCHITECTURES, e.g. 90a)", arch);
      FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(kernel, static_cast<int>(smem)));
      return true;
    }();
    (void)ready;
    FUSEKIT_CHECK(smem <= s.device().shared_memory_per_block_optin,
                  "gemm: tile {}x{} needs {} bytes of shared memory, the device allows {}", Cfg::BM, Cfg::BN, smem,
                  s.device().shared_memory_per_block_optin);
    const index_t tiles = tiles_of(p, Cfg::BM, Cfg::BN);
    const kernels::SplitK sk = plan_splits(s, tiles * p.batch, p.k, Cfg::BK, Cfg::BM, Cfg::BN, splits);
    hip::launch_dependent("gemm_mma", kernel,
                          dim3(static_cast<unsigned>(tiles), static_cast<unsigned>(sk.splits), static_cast<unsigned>(p.batch)),
                          dim3(Cfg::threads), smem, s, p, sk);
  }
};

}  // namespace fusekit
#endif
