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

// Timing probes for development (bench/wgmma_timeline.cpp): a tool that defines
// FUSEKIT_WGMMA_TRACE(point) before including the library records when each block reaches the points
// (0 entry, 1 set up, 2 first stage landed, 3 MMAs done, 4 stored). Nothing otherwise.
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

template <class T, class O, class Epi, class ASrc, class Cfg>
FUSEKIT_GLOBAL void __launch_bounds__(Cfg::threads, 1)
    gemm_wgmma(const FUSEKIT_GRID_CONSTANT GemmParams<T, O, Epi, ASrc> p, const FUSEKIT_GRID_CONSTANT gpu::TensorMap ta,
               const FUSEKIT_GRID_CONSTANT gpu::TensorMap tb, const WgmmaBatch batched, const SplitK sk) {
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
  const index_t bi = blockIdx.z;
  const GemmTileCoords<Cfg::BM, Cfg::BN, Epi> tc(p, blockIdx.x);
  const int wg = threadIdx.x / 128;
  const int all_tiles_k = static_cast<int>((p.k + Cfg::BK - 1) / Cfg::BK);
  const int kt0 = sk.splits > 1 ? static_cast<int>(blockIdx.y) * sk.tiles_per_split : 0;
  const int tiles_k = sk.splits > 1 ? std::min(sk.tiles_per_split, all_tiles_k - kt0) : all_tiles_k;
  constexpr bool kConv = !std::is_same_v<ASrc, GemmOperand<const T>>;
  const bool gather = kConv && !batched.a_im2col;  // the producer warpgroup's 128 threads fill A
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s)
      gpu::mbarrier_init(&full[s], gather ? 128 : 1), gpu::mbarrier_init(&empty[s], Cfg::consumers);
    gpu::mbarrier_init_fence();
  }
  const int ab = batched.a_batched ? static_cast<int>(bi) : 0, bb = batched.b_batched ? static_cast<int>(bi) : 0;
  // B's two half tiles: accumulator columns acc_col(0..) and acc_col(BN / 2..) (gate and up rows of
  // a concatenated gate, else consecutive rows)
  const int n_lo = static_cast<int>(tc.concat ? tc.out0 : tc.acc0);
  const int n_hi = static_cast<int>(tc.concat ? tc.out0 + tc.n_out : tc.acc0 + Cfg::BN / 2);
  if (threadIdx.x == Cfg::consumers * 128) {  // while the previous kernel may still run (hip::launch_with)
    if (!gather) gpu::tma_prefetch(ta);
    gpu::tma_prefetch(tb);
    for (int kt = 0; kt < tiles_k && kt < S; ++kt)  // the first stages' B into L2
      gpu::tma_prefetch_l2_3d(tb, (kt0 + kt) * Cfg::BK, n_lo, bb), gpu::tma_prefetch_l2_3d(tb, (kt0 + kt) * Cfg::BK, n_hi, bb);
  }
  gpu::wait_for_prior_grid();  // what earlier kernels wrote is complete and visible from here on
  __syncthreads();
  FUSEKIT_WGMMA_TRACE(1);

  float acc[Atom::kAcc];
  FUSEKIT_UNROLL
  for (int i = 0; i < Atom::kAcc; ++i) acc[i] = 0.f;
  if (wg == Cfg::consumers) {  // producer
    if (gather) {
      if constexpr (kConv) produce_conv<Cfg>(p, tc, bi, tb, full, empty, ring, kt0, tiles_k, n_lo, n_hi);
    } else if (threadIdx.x == Cfg::consumers * 128) {
      const int m0 = static_cast<int>(tc.m0);
      for (int kt = 0; kt < tiles_k; ++kt) {
        const int s = kt % S;
        if (kt >= S) gpu::mbarrier_wait_parity(&empty[s], ((kt / S) + 1) & 1);  // consumers freed it
        gpu::mbarrier_arrive_expect_tx(&full[s], Cfg::stage_bytes);
        const int k0 = (kt0 + kt) * Cfg::BK;
        if constexpr (kConv) load_im2col_tile(tile_a(s), ta, &full[s], p.a, m0, k0, ab);
        else gpu::tma_load_3d(tile_a(s), ta, &full[s], k0, m0, ab);
        gpu::tma_load_3d(tile_b(s), tb, &full[s], k0, n_lo, bb);
        gpu::tma_load_3d(tile_b(s) + Cfg::BN / 2 * Cfg::BK, tb, &full[s], k0, n_hi, bb);
      }
    }
  } else {  // consumer warpgroup wg: rows 64 wg .. 64 wg + 63 of the tile
    for (int kt = 0; kt < tiles_k; ++kt) {
      const int s = kt % S;
      gpu::mbarrier_wait_parity(&full[s], (kt / S) & 1);
      if (kt == 0) FUSEKIT_WGMMA_TRACE(2);
      const std::uint64_t da = Atom::desc(tile_a(s) + wg * 64 * Cfg::BK), db = Atom::desc(tile_b(s));
      Atom::pin(acc);
      Atom::fence();
      FUSEKIT_UNROLL
      for (int k = 0; k < Cfg::BK / Atom::kK; ++k) Atom::mma(acc, Atom::slice(da, k), Atom::slice(db, k));
      Atom::commit();
      Atom::template wait<1>();  // k-tile kt - 1's MMAs are done: its stage can be refilled
      Atom::pin(acc);
      if (kt > 0 && threadIdx.x % 128 == 0) gpu::mbarrier_arrive(&empty[(kt - 1) % S]);
    }
    Atom::template wait<0>();
    Atom::pin(acc);
    FUSEKIT_WGMMA_TRACE(3);
  }
  gpu::allow_dependent_launch();  // the next kernel may start its preamble during this epilogue
  if (sk.splits > 1 && !sk.cluster && !reduce_splits<Cfg::consumers * 128>(sk, bi * gridDim.x + blockIdx.x, acc))
    return;
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
  store_tile<Cfg::BM, Cfg::BN, Cfg::threads>(p, tc, bi, sc, Cfg::ld_acc, r0, r1);
  FUSEKIT_WGMMA_TRACE(4);
  if (sk.cluster) gpu::cluster_wait();  // no block leaves while another reads its shared memory
#else
  (void)p, (void)ta, (void)tb, (void)batched, (void)sk;
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
