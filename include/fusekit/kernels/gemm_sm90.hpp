#pragma once
// Hopper (sm_90a) GEMM main loop: TMA loads into a kStages-deep ring of 128-byte-swizzled shared tiles,
// warpgroup MMAs (kernels/wgmma_atom.hpp) straight from shared memory, and the same fused epilogue as
// the other kernels (store_tile). Warp-specialised: one producer warpgroup, of which one thread issues
// the copies, and BM / 64 consumer warpgroups of 64 rows each; per stage a `full` barrier (the copy
// engine counts the stage's bytes) and an `empty` barrier (each consumer warpgroup arrives once its
// MMAs on the stage have completed).
// Takes: f16/bf16 A with dense rows, a k-major B (Linear weight W [N, K]), 16-byte aligned rows; any
// M, N, K % 8 == 0 (TMA zero-fills the tails); batches with per-entry or shared (stride 0) operands.
// Convolutions (A = ConvInput): A by TMA in im2col mode where Cin % 64 == 0 (a k-tile is 64 channels of
// one filter tap), else gathered by the producer warpgroup with cp.async (produce_conv).
#include <algorithm>
#include <cstdint>
#include <tuple>

#include "fusekit/backend/hip/cluster.hpp"
#include "fusekit/backend/hip/tma.hpp"
#include "fusekit/kernels/conv_copier.hpp"
#include "fusekit/kernels/gemm_tile.hpp"
#include "fusekit/kernels/smem_tile.hpp"
#include "fusekit/kernels/mma_atom.hpp"
#include "fusekit/kernels/split_k.hpp"
#include "fusekit/kernels/wgmma_atom.hpp"

// Timing probes for development: a tool that defines FUSEKIT_WGMMA_TRACE(point) before including the
// library records when each block reaches the points (0 entry, 1 set up, 2 first stage landed, 3 MMAs
// done, 4 stored). Empty otherwise.
#ifndef FUSEKIT_WGMMA_TRACE
#define FUSEKIT_WGMMA_TRACE(point) ((void)0)
#endif

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
namespace fusekit::kernels {

template <int BM_, int BN_, int kStages_>
struct WgmmaTile {
  static constexpr int BM = BM_, BN = BN_, BK = 64, kStages = kStages_;
  static constexpr int consumers = BM / 64;              // warpgroups of 64 rows
  static constexpr int threads = 128 * (consumers + 1);  // + the producer warpgroup
  static constexpr int ld_acc = BN + 8;                  // fp32 accumulator tile row (MmaSm80::store_c)
  static constexpr int a_bytes = BM * BK * 2, b_bytes = BN * BK * 2, stage_bytes = a_bytes + b_bytes;
  static constexpr std::size_t smem =  // + 1 KiB to align the ring to the swizzle's 1024 bytes
      std::max<std::size_t>(std::size_t{kStages} * stage_bytes, std::size_t{4} * BM * ld_acc) + 1024;
};

// Operand a's and b's batch coordinate: batch entry bi, or 0 for an operand shared by every entry; and
// how a convolution's A arrives (a_im2col: the `ta` map is an im2col map, else the producer gathers).
struct WgmmaBatch {
  int a_batched, b_batched;
  int a_im2col = 0;
};

// The conv's A tile at k-tile k0 by TMA im2col: the tile's first output pixel's filter corner, the tap
// of k0 (k = tap * Cin + ci), its 64 channels.
template <class T, class Pro>
FUSEKIT_DEVICE void load_im2col_tile(T* dst, const gpu::TensorMap& ta, std::uint64_t* bar, const ConvInput<T, Pro>& a,
                                     int m0, int k0, int bi) {
  const int cin = static_cast<int>(a.s.cin), kw = static_cast<int>(a.s.kw), pad = static_cast<int>(a.s.pad());
  const int width = static_cast<int>(a.s.w), tap = k0 / cin;
  gpu::tma_load_im2col_4d(dst, ta, bar, k0 - tap * cin, m0 % width - pad, m0 / width - pad, bi,
                          static_cast<std::uint16_t>(tap % kw), static_cast<std::uint16_t>(tap / kw));
}

// The conv producer: A chunks gathered by the producer warpgroup (thread `tid` of 128), B by TMA from
// thread 0; stage j published kInFlight stages later.
template <class Cfg, class T, class O, class Epi, class Pro>
FUSEKIT_DEVICE void produce_conv(const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p,
                                 const GemmTileCoords<Cfg::BM, Cfg::BN, Epi>& tc, index_t bi, const gpu::TensorMap& tb,
                                 std::uint64_t* full, std::uint64_t* empty, unsigned char* ring, int kt0, int tiles_k,
                                 int n_lo, int n_hi) {
#if FUSEKIT_SM90A
  // Stages the producer keeps in flight before publishing: the most the consumers leave it (they hold
  // the stage they compute on and, until its MMAs retire, the one before).
  constexpr int S = Cfg::kStages, kInFlight = S - 2, ch = 8;
  using TileA = SwizzledTile<T, Cfg::BM, Cfg::BK>;  // the 128-byte swizzle, as TMA writes it
  constexpr int a_total = Cfg::BM * Cfg::BK / ch, a_chunks = a_total / 128;
  const int tid = threadIdx.x - Cfg::consumers * 128;
  ConvChunkCopier<T, a_chunks, Cfg::BK, Pro> a;
  FUSEKIT_UNROLL
  for (int i = 0; i < a_chunks; ++i) {
    const int q = tid + i * 128, r = q / (Cfg::BK / ch), c = q % (Cfg::BK / ch);
    const index_t m = tc.m0 + r;
    a.init(i, p.a, bi, m < p.m ? m : -1, TileA::offset(r, c), c * ch);
  }
  auto tile_a = [&](int s) { return reinterpret_cast<T*>(ring + s * Cfg::stage_bytes); };
  for (int kt = 0; kt < tiles_k + kInFlight; ++kt) {
    if (kt < tiles_k) {
      const int s = kt % S;
      if (kt >= S) gpu::mbarrier_wait_parity(&empty[s], ((kt / S) + 1) & 1);
      const int k0 = (kt0 + kt) * Cfg::BK;
      if (tid == 0) {
        gpu::mbarrier_expect_tx(&full[s], Cfg::b_bytes);
        T* b = reinterpret_cast<T*>(ring + s * Cfg::stage_bytes + Cfg::a_bytes);
        gpu::tma_load_3d(b, tb, &full[s], k0, n_lo, 0);
        gpu::tma_load_3d(b + Cfg::BN / 2 * Cfg::BK, tb, &full[s], k0, n_hi, 0);
      }
      a.copy(tile_a(s), k0, p.k);
    }
    gpu::copy_async_commit();  // (empty groups while draining keep the count below uniform)
    if (kt >= kInFlight) {
      const int j = kt - kInFlight;
      gpu::copy_async_wait<kInFlight>();
      if constexpr (Pro::active) a.transform(tile_a(j % S), index_t{kt0 + j} * Cfg::BK, p.k);
      gpu::fence_proxy_async_shared();
      gpu::mbarrier_arrive(&full[j % S]);
    }
  }
#else
  (void)p, (void)tc, (void)bi, (void)tb, (void)full, (void)empty, (void)ring, (void)kt0, (void)tiles_k, (void)n_lo,
      (void)n_hi;
#endif
}

// One block: a tile (blockIdx.x of batch entry blockIdx.z), or its split blockIdx.y of k-tiles; or with
// stream-K (sks.blocks > 0) the pieces of its range of units, one after another, the shared-memory ring
// and its barriers running on across them.
template <class T, class O, class Epi, class ASrc, class Cfg>
FUSEKIT_GLOBAL void __launch_bounds__(Cfg::threads, 1)
    gemm_wgmma(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi, ASrc> p, const FUSEKIT_GRID_CONSTANT gpu::TensorMap ta,
               const FUSEKIT_GRID_CONSTANT gpu::TensorMap tb, const WgmmaBatch batched, const SplitK sk,
               const StreamK sks) {
#if FUSEKIT_SM90A
  using Atom = Wgmma<T, Cfg::BN>;
  constexpr int S = Cfg::kStages;
  // Static shared memory only in this body: the host reads it back to know the binary has it.
  __shared__ std::uint64_t full[S], empty[S];
  extern __shared__ __align__(16) unsigned char wgmma_smem[];
  unsigned char* ring = wgmma_smem + ((1024 - gpu::smem_address(wgmma_smem) % 1024) % 1024);
  auto tile_a = [&](int s) { return reinterpret_cast<T*>(ring + s * Cfg::stage_bytes); };
  auto tile_b = [&](int s) { return reinterpret_cast<T*>(ring + s * Cfg::stage_bytes + Cfg::a_bytes); };

  FUSEKIT_WGMMA_TRACE(0);
  const int wg = threadIdx.x / 128;
  const int all_tiles_k = static_cast<int>((p.k + Cfg::BK - 1) / Cfg::BK);
  constexpr bool kConv = !std::is_same_v<ASrc, GemmOperand<const T>>;
  const bool gather = kConv && !batched.a_im2col;  // the producer warpgroup's 128 threads fill A
  // Stream-K runs on GEMM tiles up to 128 columns: the loop over pieces costs the 128 x 256 tile's
  // consumers more registers than they have (168 for 128 accumulators), so the others run one piece.
  constexpr bool kPieces = !kConv && Cfg::BN <= 128;
  const bool streamk = kPieces && sks.blocks > 0;
  // The block's units [u, u_end): tile-major (tile of all batch entries, k-tile)
  index_t u, u_end;
  if (streamk) {
    u = sks.first_unit(static_cast<int>(blockIdx.x));
    u_end = std::min<index_t>(u + sks.units_per_block, index_t{sks.tiles} * all_tiles_k);
  } else {
    const int kt0 = sk.splits > 1 ? static_cast<int>(blockIdx.y) * sk.tiles_per_split : 0;
    const int tiles_k = sk.splits > 1 ? std::min(sk.tiles_per_split, all_tiles_k - kt0) : all_tiles_k;
    u = (index_t{blockIdx.z} * gridDim.x + blockIdx.x) * all_tiles_k + kt0;
    u_end = u + tiles_k;
  }
  const index_t tiles_per_entry = streamk ? sks.tiles / p.batch : gridDim.x;
  // A piece: tile t's k-tiles [k0, k1), the tile's coordinates, and where B's two half tiles start
  // (accumulator columns acc_col(0..) and acc_col(BN / 2..): gate and up rows of a concatenated gate,
  // else consecutive rows).
  struct Piece {
    int t, k0, k1, bi, n_lo, n_hi;
    GemmTileCoords<Cfg::BM, Cfg::BN, Epi> tc;
  };
  auto piece_at = [&](index_t unit) {
    const int t = static_cast<int>(unit / all_tiles_k), k0 = static_cast<int>(unit % all_tiles_k);
    const GemmTileCoords<Cfg::BM, Cfg::BN, Epi> tc(p, t % tiles_per_entry);
    return Piece{t,
                 k0,
                 static_cast<int>(std::min<index_t>(all_tiles_k, k0 + (u_end - unit))),
                 static_cast<int>(t / tiles_per_entry),
                 static_cast<int>(tc.concat ? tc.out0 : tc.acc0),
                 static_cast<int>(tc.concat ? tc.out0 + tc.n_out : tc.acc0 + Cfg::BN / 2),
                 tc};
  };
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s)
      gpu::mbarrier_init(&full[s], gather ? 128 : 1), gpu::mbarrier_init(&empty[s], Cfg::consumers);
    gpu::mbarrier_init_fence();
  }
  if (threadIdx.x == Cfg::consumers * 128) {  // while the previous kernel may still run (hip::launch_with)
    const Piece pc = piece_at(u);
    const int bb = batched.b_batched ? pc.bi : 0;
    if (!gather) gpu::tma_prefetch(ta);
    gpu::tma_prefetch(tb);
    for (int kt = pc.k0; kt < pc.k1 && kt < pc.k0 + S; ++kt)  // the first stages' B into L2
      gpu::tma_prefetch_l2_3d(tb, kt * Cfg::BK, pc.n_lo, bb), gpu::tma_prefetch_l2_3d(tb, kt * Cfg::BK, pc.n_hi, bb);
  }
  gpu::wait_for_prior_grid();  // what earlier kernels wrote is complete and visible from here on
  __syncthreads();
  FUSEKIT_WGMMA_TRACE(1);

  int it = 0;  // stages filled (producer) and consumed (consumers) so far, over all pieces
  auto run_piece = [&] {
    const Piece pc = piece_at(u);
    const int ab = batched.a_batched ? pc.bi : 0, bb = batched.b_batched ? pc.bi : 0;
    float acc[Atom::kAcc];
    FUSEKIT_UNROLL
    for (int i = 0; i < Atom::kAcc; ++i) acc[i] = 0.f;
    if (wg == Cfg::consumers) {  // producer
      if (gather) {
        if constexpr (kConv)
          produce_conv<Cfg>(p, pc.tc, pc.bi, tb, full, empty, ring, pc.k0, pc.k1 - pc.k0, pc.n_lo, pc.n_hi);
      } else if (threadIdx.x == Cfg::consumers * 128) {
        const int m0 = static_cast<int>(pc.tc.m0);
        for (int kt = pc.k0, i = it; kt < pc.k1; ++kt, ++i) {
          const int s = i % S;
          if (i >= S) gpu::mbarrier_wait_parity(&empty[s], ((i / S) + 1) & 1);  // consumers freed it
          gpu::mbarrier_arrive_expect_tx(&full[s], Cfg::stage_bytes);
          const int k0 = kt * Cfg::BK;
          if constexpr (kConv) load_im2col_tile(tile_a(s), ta, &full[s], p.a, m0, k0, ab);
          else gpu::tma_load_3d(tile_a(s), ta, &full[s], k0, m0, ab);
          gpu::tma_load_3d(tile_b(s), tb, &full[s], k0, pc.n_lo, bb);
          gpu::tma_load_3d(tile_b(s) + Cfg::BN / 2 * Cfg::BK, tb, &full[s], k0, pc.n_hi, bb);
        }
      }
    } else {  // consumer warpgroup wg: rows 64 wg .. 64 wg + 63 of the tile
      for (int kt = pc.k0, i = it; kt < pc.k1; ++kt, ++i) {
        const int s = i % S;
        gpu::mbarrier_wait_parity(&full[s], (i / S) & 1);
        if (i == 0) FUSEKIT_WGMMA_TRACE(2);
        const std::uint64_t da = Atom::desc(tile_a(s) + wg * 64 * Cfg::BK), db = Atom::desc(tile_b(s));
        Atom::pin(acc);
        Atom::fence();
        FUSEKIT_UNROLL
        for (int k = 0; k < Cfg::BK / Atom::kK; ++k) Atom::mma(acc, Atom::slice(da, k), Atom::slice(db, k));
        Atom::commit();
        Atom::template wait<1>();  // stage i - 1's MMAs are done: it can be refilled
        Atom::pin(acc);
        if (kt > pc.k0 && threadIdx.x % 128 == 0) gpu::mbarrier_arrive(&empty[(i - 1) % S]);
      }
      Atom::template wait<0>();
      Atom::pin(acc);
      // the piece's last stage too (a later piece refills it)
      if (threadIdx.x % 128 == 0) gpu::mbarrier_arrive(&empty[(it + pc.k1 - pc.k0 - 1) % S]);
      FUSEKIT_WGMMA_TRACE(3);
    }
    it += pc.k1 - pc.k0;
    u += pc.k1 - pc.k0;
    if (u >= u_end) gpu::allow_dependent_launch();  // the next kernel may start its preamble during this epilogue
    // Pieces of a tile meet in the workspace; the last to arrive stores the tile.
    bool last = true;
    if (streamk && pc.k1 - pc.k0 < all_tiles_k)
      last = reduce_stream_k<Cfg::consumers * 128>(sks, static_cast<int>(blockIdx.x), pc.t, acc);
    else if (sk.splits > 1 && !sk.cluster)
      last = reduce_splits<Cfg::consumers * 128>(sk, index_t{pc.bi} * gridDim.x + blockIdx.x, acc);
    if (last) {
      __syncthreads();  // every MMA has read its stage: the ring becomes the accumulator tile
      float* sc = reinterpret_cast<float*>(ring);
      if (wg < Cfg::consumers) {
        const int row0 = wg * 64 + (threadIdx.x % 128) / 32 * 16;
        FUSEKIT_UNROLL
        for (int j = 0; j < Cfg::BN / 8; ++j)
          MmaSm80<T>::store_c(sc, Cfg::ld_acc, row0, 8 * j,
                              typename MmaSm80<T>::C{{acc[4 * j], acc[4 * j + 1], acc[4 * j + 2], acc[4 * j + 3]}});
      }
      int r0 = 0, r1 = Cfg::BM;  // the tile rows this block stores
      if (sk.cluster) reduce_cluster_rows<Cfg::BM, Cfg::BN, Cfg::threads>(sc, Cfg::ld_acc, sk.splits, r0, r1);
      else __syncthreads();
      store_tile<Cfg::BM, Cfg::BN, Cfg::threads>(p, pc.tc, pc.bi, sc, Cfg::ld_acc, r0, r1);
      if (sk.cluster) gpu::cluster_wait();  // no block leaves while another reads its shared memory
      if (u < u_end) {  // the ring is the copies' again: these generic accesses come first
        gpu::fence_proxy_async_shared();
        __syncthreads();
      }
    }
  };
  // One piece without a loop around it where the kernel takes one: in a loop ptxas serializes the
  // wide tiles' MMAs (warning C7515: accumulator registers written between the asynchronous MMAs).
  if constexpr (kPieces) {
    while (u < u_end) run_piece();
  } else {
    run_piece();
  }
  FUSEKIT_WGMMA_TRACE(4);
#else
  (void)p, (void)ta, (void)tb, (void)batched, (void)sk, (void)sks;
  gpu::trap();
#endif
}

// The wgmma kernel's tile configurations (GemmOptions::tile and ConvOptions::tile index these lists on the
// wgmma path). Convolutions: 192-wide tiles for KataGo's 192 and 384 channels, 64 rows for small batches.
using WgmmaTiles = std::tuple<WgmmaTile<128, 128, 6>, WgmmaTile<128, 256, 4>>;
using WgmmaConvTiles = std::tuple<WgmmaTile<128, 192, 5>, WgmmaTile<64, 192, 6>, WgmmaTile<128, 128, 6>>;
inline constexpr int wgmma_tile_count = static_cast<int>(std::tuple_size_v<WgmmaTiles>);
inline constexpr int wgmma_conv_tile_count = static_cast<int>(std::tuple_size_v<WgmmaConvTiles>);

}  // namespace fusekit::kernels
#endif

#if FUSEKIT_GPUCC && !FUSEKIT_VENDOR_CUDA
namespace fusekit::kernels {
// No Hopper kernel outside NVIDIA: empty tile lists, so loops over them (tests, benches) compile everywhere.
inline constexpr int wgmma_tile_count = 0, wgmma_conv_tile_count = 0;
}  // namespace fusekit::kernels
#endif
