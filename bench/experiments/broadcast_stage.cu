// Experiment (not built by CMake): what it costs every block of a persistent kernel to stage the same
// few KB of activations into shared memory right after a grid barrier (DecodeStack's norm phases spend
// 6-7 us a layer on 45 KB of fp32 rows). Per block and repetition: grid barrier, globaltimer, stage 11
// rows, wait, globaltimer. Ways: per-thread 16-byte ld.global.cg (as DecodeStack), one thread issuing 1-D
// bulk copies (TMA), the same data for every block or a private copy per block, and bulk copies
// multicast to a cluster of 2 or 4 blocks (each block fetching 1/C of the rows for all of them).
// Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a -x cu bench/experiments/broadcast_stage.cu -o broadcast_stage
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#define CK(x)                                                                                  \
  do {                                                                                         \
    cudaError_t e_ = (x);                                                                      \
    if (e_ != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e_)); \
      std::exit(1);                                                                            \
    }                                                                                          \
  } while (0)

enum Mode { BARRIER_ONLY, LDCG, TMA, TMA_MULTICAST };
constexpr int ROWS = 11, MAX_ROW = 4096, PITCH_PAD = 64;

__device__ inline unsigned long long now_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %globaltimer;\n" : "=l"(t));
  return t;
}
__device__ inline unsigned sa(const void* p) { return static_cast<unsigned>(__cvta_generic_to_shared(p)); }

__global__ void __launch_bounds__(256, 1)
    stage_kernel(const unsigned char* src, std::size_t block_stride, int copies, int row_bytes, int mode, int C, int reps,
                 unsigned* counter, unsigned long long* out) {
  extern __shared__ __align__(1024) unsigned char smem[];
  __shared__ alignas(8) std::uint64_t bar;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32, pitch = row_bytes + PITCH_PAD;
  unsigned rank = 0;
  if (C > 1) asm volatile("mov.u32 %0, %cluster_ctarank;\n" : "=r"(rank));
  const unsigned char* my = src + block_stride * (blockIdx.x % copies);
  if (tid == 0) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], 1;\n" ::"r"(sa(&bar)) : "memory");
    asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
  }
  __syncthreads();
  if (C > 1) asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
  unsigned target = 0;
  unsigned long long total = 0;
  for (int r = 0; r < reps; ++r) {
    __syncthreads();
    target += gridDim.x;
    if (tid == 0) {
      asm volatile("fence.acq_rel.gpu;\nred.relaxed.gpu.global.add.u32 [%0], 1;\n" ::"l"(counter) : "memory");
      unsigned v;
      do asm volatile("ld.acquire.gpu.global.u32 %0, [%1];\n" : "=r"(v) : "l"(counter) : "memory");
      while (v < target);
    }
    __syncthreads();
    const unsigned long long t0 = now_ns();
    if (mode == LDCG) {  // DecodeStack's pattern: two rows per warp, each lane a contiguous 1/32 of a row
      const int per_lane = row_bytes / 32 / 16;  // 16-byte loads per lane per row (4 for bf16 rows, 8 for fp32)
      uint4 v[2][8];
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 8; ++e) {
          const int t = warp + 8 * j;
          v[j][e] = t < ROWS && e < per_lane
                        ? __ldcg(reinterpret_cast<const uint4*>(my + t * row_bytes + lane * row_bytes / 32) + e)
                        : make_uint4(0, 0, 0, 0);
        }
#pragma unroll
      for (int j = 0; j < 2; ++j)
#pragma unroll
        for (int e = 0; e < 8; ++e)
          if (e < per_lane && warp + 8 * j < ROWS)  // (shared memory holds ROWS rows)
            reinterpret_cast<uint4*>(smem + (warp + 8 * j) * pitch + lane * row_bytes / 32)[e] = v[j][e];
      __syncthreads();
    } else if (mode == TMA || mode == TMA_MULTICAST) {
      if (tid == 0) {
        const unsigned bytes = ROWS * row_bytes;
        asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(sa(&bar)), "r"(bytes) : "memory");
        if (mode == TMA) {
          for (int t = 0; t < ROWS; ++t)
            asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                             sa(smem + t * pitch)),
                         "l"(my + t * row_bytes), "r"(row_bytes), "r"(sa(&bar))
                         : "memory");
        } else {
          const unsigned short mask = static_cast<unsigned short>((1u << C) - 1);
          for (int t = static_cast<int>(rank); t < ROWS; t += C)
            asm volatile(
                "cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes.multicast::cluster [%0], [%1], %2, "
                "[%3], %4;\n" ::"r"(sa(smem + t * pitch)),
                "l"(my + t * row_bytes), "r"(row_bytes), "r"(sa(&bar)), "h"(mask)
                : "memory");
        }
      }
      unsigned done = 0;
      do
        asm volatile("{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
                     : "=r"(done)
                     : "r"(sa(&bar)), "r"(static_cast<unsigned>(r & 1))
                     : "memory");
      while (!done);
      __syncthreads();
    }
    if (tid == 0 && r >= 10) total += now_ns() - t0;
  }
  // a multicast peer may still be writing into this block's shared memory: leave together
  if (C > 1) asm volatile("barrier.cluster.arrive.release;\nbarrier.cluster.wait.acquire;\n" ::: "memory");
  if (tid == 0) out[blockIdx.x] = total;
}

int main() {
  cudaDeviceProp prop;
  CK(cudaGetDeviceProperties(&prop, 0));
  std::printf("GPU: %s, %d SMs\n", prop.name, prop.multiProcessorCount);
  const int sms = prop.multiProcessorCount, reps = 510;
  const std::size_t stride = ROWS * MAX_ROW;
  unsigned char* src;
  unsigned* counter;
  unsigned long long* out;
  CK(cudaMalloc(&src, stride * sms));
  CK(cudaMalloc(&counter, 4));
  CK(cudaMalloc(&out, 8 * sms));
  std::vector<unsigned char> h(stride * sms);
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<unsigned char>(i * 2654435761u >> 13);
  CK(cudaMemcpy(src, h.data(), h.size(), cudaMemcpyHostToDevice));
  const int smem = ROWS * (MAX_ROW + PITCH_PAD) + 1024;
  CK(cudaFuncSetAttribute(stage_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  CK(cudaFuncSetAttribute(stage_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));

  struct Case {
    const char* name;
    int mode, row_bytes, C;
    int copies;  // blocks read copy blockIdx % copies of the rows
  };
  const Case cases[] = {
      {"barrier only", BARRIER_ONLY, 2048, 1, 1},
      {"ldcg  bf16 22 KB, same rows", LDCG, 2048, 1, 1},
      {"ldcg  fp32 45 KB, same rows", LDCG, 4096, 1, 1},
      {"ldcg  bf16 22 KB, 4 copies", LDCG, 2048, 1, 4},
      {"ldcg  bf16 22 KB, 16 copies", LDCG, 2048, 1, 16},
      {"ldcg  bf16 22 KB, own rows", LDCG, 2048, 1, 1 << 20},
      {"ldcg  fp32 45 KB, own rows", LDCG, 4096, 1, 1 << 20},
      {"bulk  bf16 22 KB, same rows", TMA, 2048, 1, 1},
      {"bulk  fp32 45 KB, same rows", TMA, 4096, 1, 1},
      {"bulk  bf16 22 KB, 4 copies", TMA, 2048, 1, 4},
      {"bulk  bf16 22 KB, 16 copies", TMA, 2048, 1, 16},
      {"bulk  bf16 22 KB, own rows", TMA, 2048, 1, 1 << 20},
      {"multicast C=2 bf16 22 KB", TMA_MULTICAST, 2048, 2, 1},
      {"multicast C=4 bf16 22 KB", TMA_MULTICAST, 2048, 4, 1},
      {"multicast C=2 fp32 45 KB", TMA_MULTICAST, 4096, 2, 1},
      {"multicast C=4 fp32 45 KB", TMA_MULTICAST, 4096, 4, 1},
      {"barrier only, cluster 2", BARRIER_ONLY, 2048, 2, 1},
      {"ldcg  bf16 22 KB, same rows, cluster 2", LDCG, 2048, 2, 1},
  };
  for (const Case& c : cases) {
    cudaLaunchConfig_t cfg{};
    cudaLaunchAttribute attr[1];
    cfg.blockDim = dim3(256);
    cfg.dynamicSmemBytes = smem;
    int blocks = sms;
    if (c.C > 1) {
      attr[0].id = cudaLaunchAttributeClusterDimension;
      attr[0].val.clusterDim.x = c.C, attr[0].val.clusterDim.y = 1, attr[0].val.clusterDim.z = 1;
      cfg.attrs = attr, cfg.numAttrs = 1;
      cfg.gridDim = dim3(c.C * 64);
      int clusters = 0;
      CK(cudaOccupancyMaxActiveClusters(&clusters, stage_kernel, &cfg));
      blocks = std::min(clusters * c.C, sms / c.C * c.C);
    }
    cfg.gridDim = dim3(blocks);
    std::vector<double> runs;
    std::vector<unsigned long long> ho(blocks);
    for (int run = 0; run < 5; ++run) {
      CK(cudaMemset(counter, 0, 4));
      CK(cudaLaunchKernelEx(&cfg, stage_kernel, static_cast<const unsigned char*>(src), stride, c.copies, c.row_bytes, c.mode, c.C, reps, counter, out));
      CK(cudaGetLastError());
      CK(cudaDeviceSynchronize());
      CK(cudaMemcpy(ho.data(), out, 8 * blocks, cudaMemcpyDeviceToHost));
      double mean = 0, mx = 0;
      for (int b = 0; b < blocks; ++b) mean += ho[b], mx = std::max(mx, static_cast<double>(ho[b]));
      runs.push_back(mean / blocks / (reps - 10) / 1000.0);
      if (run == 4) std::printf("%-42s %3d blocks: staging %.2f us mean over blocks (max block %.2f)", c.name, blocks,
                                runs.back(), mx / (reps - 10) / 1000.0);
    }
    std::sort(runs.begin(), runs.end());
    std::printf(", median of 5 runs %.2f us\n", runs[2]);
  }
  return 0;
}
