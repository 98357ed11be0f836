#pragma once
// Thread-block clusters (NVIDIA sm_90): the blocks of a cluster run at the same time on one GPC and can
// read each other's shared memory (distributed shared memory).
//   cluster_rank      this block's rank in its cluster
//   cluster_arrive    a split cluster barrier: arrive (release: this thread's earlier shared-memory
//   cluster_wait      writes are visible to the cluster), later wait (acquire) for every thread of
//                     every block of the cluster to have arrived
//   map_cluster       the address of a shared-memory offset in block `rank` of the cluster
//   load_cluster_f4   16 (or 8) bytes at the same shared-memory offset in block `rank` of the cluster
//   load_cluster_f2
//   load_cluster_f4_each  the same 16 bytes from each of the first n blocks
// Device functions do nothing (or trap) below sm_90; their callers check first (hip::has_sm90_code).
#include <cstdint>

#include "fusekit/backend/hip/tma.hpp"
#include "fusekit/backend/hip/vendor.hpp"

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
namespace fusekit::gpu {

FUSEKIT_DEVICE inline unsigned cluster_rank() {
#if FUSEKIT_CUDA_ARCH >= 900
  unsigned r = 0;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
#else
  return 0;
#endif
}

FUSEKIT_DEVICE inline void cluster_arrive() {
#if FUSEKIT_CUDA_ARCH >= 900
  asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory");
#endif
}

FUSEKIT_DEVICE inline void cluster_wait() {
#if FUSEKIT_CUDA_ARCH >= 900
  asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory");
#endif
}

// The shared-memory address of `local`'s offset in block `rank` of the cluster.
FUSEKIT_DEVICE inline std::uint32_t map_cluster(const float* local, unsigned rank) {
  std::uint32_t remote = 0;
#if FUSEKIT_CUDA_ARCH >= 900
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(smem_address(local)), "r"(rank));
#else
  (void)local, (void)rank;
  trap();
#endif
  return remote;
}

FUSEKIT_DEVICE inline float4 load_cluster_f4(const float* local, unsigned rank) {
  float4 v{};
#if FUSEKIT_CUDA_ARCH >= 900
  asm volatile("ld.shared::cluster.v4.f32 {%0, %1, %2, %3}, [%4];\n"
               : "=f"(v.x), "=f"(v.y), "=f"(v.z), "=f"(v.w)
               : "r"(map_cluster(local, rank))
               : "memory");
#else
  (void)local, (void)rank;
  trap();
#endif
  return v;
}

FUSEKIT_DEVICE inline float2 load_cluster_f2(const float* local, unsigned rank) {
  float2 v{};
#if FUSEKIT_CUDA_ARCH >= 900
  asm volatile("ld.shared::cluster.v2.f32 {%0, %1}, [%2];\n" : "=f"(v.x), "=f"(v.y) : "r"(map_cluster(local, rank)) : "memory");
#else
  (void)local, (void)rank;
  trap();
#endif
  return v;
}

// v[s] = load_cluster_f4(local, s) for the first n blocks of the cluster, every load issued before any
// is used (split reductions: all splits' values in flight at once).
template <int kMax>
FUSEKIT_DEVICE inline void load_cluster_f4_each(float4 (&v)[kMax], const float* local, int n) {
  FUSEKIT_UNROLL
  for (int s = 0; s < kMax; ++s)
    if (s < n) v[s] = load_cluster_f4(local, static_cast<unsigned>(s));
}

}  // namespace fusekit::gpu
#endif
