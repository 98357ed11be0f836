#pragma once
// Split-K for the GEMM kernels (kernels/gemm.hpp, kernels/gemm_sm90.hpp): thin problems whose output
// tiles alone leave multiprocessors idle split their k-tiles across blockIdx.y: the splits meet in a
// workspace (reduce_splits) or, on sm_90, sum inside a thread-block cluster (reduce_cluster_rows).
#include "fusekit/backend/hip/cluster.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/shape.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::kernels {

// Split-K: blockIdx.y picks a range of k-tiles; every split stores its fp32 partial tile in the
// workspace, and the last split of a tile to arrive (a per-tile counter, reset by that block, so the
// workspace stays ready for the next call and graph replays) sums all partials in split order and
// runs the epilogue. splits == 1: no workspace.
struct SplitK {
  int splits = 1;
  int tiles_per_split = 0;  // k-tiles per split
  float* partials = nullptr;     // [batch][tiles][splits][threads x accumulators]
  unsigned* counters = nullptr;  // [batch][tiles]
  int cluster = 0;  // wgmma kernel: the splits of a tile are one cluster and sum through shared memory
                    // (no workspace; kernels/gemm_sm90.hpp)
};

// Split-K hand-off: stores this block's kCount accumulators as its partial; returns true in the last
// split to arrive for the tile, with the sum of all splits in acc.
// Threads 0 .. kThreads - 1 hold accumulators; every thread of the block calls it.
template <int kThreads, int kCount>
FUSEKIT_DEVICE bool reduce_splits(const SplitK& sk, index_t tile, float (&acc)[kCount]) {
  __shared__ unsigned arrived;
  constexpr index_t stride = static_cast<index_t>(kThreads) * kCount;  // floats per split
  const bool holder = threadIdx.x < kThreads;
  float* mine = sk.partials + (tile * sk.splits + blockIdx.y) * stride;
  FUSEKIT_UNROLL
  for (int i = 0; i < kCount && holder; i += 4)  // float4 per thread, consecutive threads side by side
    *reinterpret_cast<float4*>(mine + static_cast<index_t>(i) * kThreads + 4 * threadIdx.x) =
        make_float4(acc[i], acc[i + 1], acc[i + 2], acc[i + 3]);
  __threadfence();  // partial visible device-wide before the count says so
  __syncthreads();
  if (threadIdx.x == 0) arrived = atomicAdd(sk.counters + tile, 1u);
  __syncthreads();
  if (arrived != static_cast<unsigned>(sk.splits - 1)) return false;
  __threadfence();  // acquire the other splits' partials
  // Sum every split's partial (this block's own included, re-read) in split order, from zero: the
  // result does not depend on which split arrived last, so runs and graph replays are bit-identical.
  FUSEKIT_UNROLL
  for (int i = 0; i < kCount; ++i) acc[i] = 0.f;
  for (int s = 0; s < sk.splits && holder; ++s) {
    const float* other = sk.partials + (tile * sk.splits + s) * stride;
    FUSEKIT_UNROLL
    for (int i = 0; i < kCount; i += 4) {
      const float4 v = gpu::load_global_coherent(reinterpret_cast<const float4*>(other + static_cast<index_t>(i) * kThreads + 4 * threadIdx.x));
      acc[i] += v.x, acc[i + 1] += v.y, acc[i + 2] += v.z, acc[i + 3] += v.w;
    }
  }
  if (threadIdx.x == 0) sk.counters[tile] = 0;  // ready for the next call
  return true;
}

#if FUSEKIT_VENDOR_CUDA
// Split-K inside a cluster (SplitK::cluster): the splits of a tile are the blocks of one cluster, each
// with its fp32 accumulator tile in shared memory. Block `rank` sums rows [r0, r1) of every split's
// tile in split order, from zero (as reduce_splits does: the same bits), into its own tile, and then
// stores just those rows. Every thread calls it; the caller waits on the cluster barrier before it
// exits, so that no block leaves while another still reads its tile.
template <int BM, int BN, int kThreads>
FUSEKIT_DEVICE void reduce_cluster_rows(float* sc, int ld, int splits, int& r0, int& r1) {
  constexpr int kMaxSplits = 8, q = BN / 4;  // a portable cluster holds 8 blocks; float4s per row
  gpu::cluster_arrive();
  gpu::cluster_wait();  // every split's tile is in its block's shared memory
  const int rank = static_cast<int>(gpu::cluster_rank());
  r0 = rank * BM / splits;
  r1 = (rank + 1) * BM / splits;
  for (int i = threadIdx.x; i < (r1 - r0) * q; i += kThreads) {
    float* at = sc + (r0 + i / q) * ld + 4 * (i % q);
    float4 v[kMaxSplits];
    gpu::load_cluster_f4_each(v, at, splits);
    float4 sum = make_float4(0.f, 0.f, 0.f, 0.f);
    FUSEKIT_UNROLL
    for (int s = 0; s < kMaxSplits; ++s)
      if (s < splits) sum.x += v[s].x, sum.y += v[s].y, sum.z += v[s].z, sum.w += v[s].w;
    *reinterpret_cast<float4*>(at) = sum;
  }
  gpu::cluster_arrive();  // done reading the other blocks' tiles (the caller waits before exiting)
  __syncthreads();        // the summed rows are visible to every thread of the block
}
#endif

}  // namespace fusekit::kernels
#endif
