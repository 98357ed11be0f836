#pragma once
// Hopper (sm_90a) bulk copies, NVIDIA only:
//   mbarrier      a barrier in shared memory that also counts transaction bytes: a producer announces
//                 the bytes a stage will receive (arrive_expect_tx), the copy engine counts them down,
//                 consumers wait for the phase to complete (wait_parity)
//   tma_load_3d   cp.async.bulk.tensor: the copy engine moves a box of a tiled tensor map into shared
//                 memory (128-byte swizzled here), zero-filling what lies outside the tensor
//   tma_prefetch_l2_3d  a box into L2 only
//   bulk_copy_g2s a contiguous run of bytes into shared memory (1-D bulk copy, no tensor map)
//   tma_load_im2col_4d  the same in im2col mode: a column of consecutive output pixels' inputs at one
//                 filter tap (a convolution's implicit-GEMM A tile), zero padding done by the copy engine
//   TensorMap     the host-side description of a tensor for TMA, encoded through the driver; the
//                 driver function is fetched from the runtime, so nothing links libcuda.
// Device functions trap (or do nothing) when compiled for anything but sm_90a; their callers check first.
#include <cstdint>

#include "fusekit/backend/hip/check.hpp"
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/error.hpp"

#if FUSEKIT_VENDOR_CUDA
#include <cuda.h>
#endif

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
namespace fusekit::gpu {

// A CUtensorMap, passed to kernels by value as a __grid_constant__ parameter.
struct TensorMap {
  CUtensorMap map;
};

// A CUDA driver function by name, from the runtime's entry-point table (so nothing links libcuda).
inline void* driver_function(const char* name) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult found{};
  FUSEKIT_GPU_CHECK(cudaGetDriverEntryPointByVersion(name, &fn, 12000, cudaEnableDefault, &found));
  FUSEKIT_CHECK(fn != nullptr && found == cudaDriverEntryPointSuccess, "TMA: the driver has no {} (needs a CUDA 12+ driver)",
                name);
  return fn;
}

// Rank-3 tensor map of 16-bit elements (dims and byte strides innermost first; dims[0] contiguous) with a
// box0 x box1 x 1 box in 128-byte swizzle (box0 * 2 bytes must be 128). `what` names the tensor in errors.
inline TensorMap tensor_map_16bit(const void* base, bool bf16, const std::uint64_t (&dims)[3],
                                  const std::uint64_t (&byte_strides)[2], unsigned box0, unsigned box1,
                                  const char* what) {
  using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                              const cuuint64_t*, const cuuint32_t*, const cuuint32_t*, CUtensorMapInterleave,
                              CUtensorMapSwizzle, CUtensorMapL2promotion, CUtensorMapFloatOOBfill);
  static const auto encode = reinterpret_cast<Encode>(driver_function("cuTensorMapEncodeTiled"));
  TensorMap t{};
  const cuuint64_t gdim[3] = {dims[0], dims[1], dims[2]};
  const cuuint64_t gstride[2] = {byte_strides[0], byte_strides[1]};
  const cuuint32_t box[3] = {box0, box1, 1};
  const cuuint32_t elem[3] = {1, 1, 1};
  const CUresult r = encode(&t.map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 3,
                            const_cast<void*>(base), gdim, gstride, box, elem, CU_TENSOR_MAP_INTERLEAVE_NONE,
                            CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  FUSEKIT_CHECK(r == CUDA_SUCCESS,
                "TMA: cuTensorMapEncodeTiled failed (error {}) for {}: dims [{}, {}, {}], byte strides [{}, {}], box "
                "{}x{}, address {}",
                static_cast<int>(r), what, dims[0], dims[1], dims[2], byte_strides[0], byte_strides[1], box0, box1, base);
  return t;
}

// Rank-4 im2col tensor map of an NHWC batch of 16-bit images for a stride-1 convolution with a k x k
// filter and `pad` zeros on every side: dims innermost first (C, W, H, N), byte strides of W, H and N.
// A load moves `pixels` consecutive output pixels x 64 channels (128 bytes, 128-byte swizzle) at one
// filter tap. The box the filter's corner walks is [-pad, size - 1 + pad - (k - 1)] in W and H (PTX ISA,
// "im2col mode": lower corner -pad, upper corner pad - (k - 1)); TMA limits both to [-128, 127] in 4-D.
inline TensorMap tensor_map_im2col_16bit(const void* base, bool bf16, const std::uint64_t (&dims)[4],
                                         const std::uint64_t (&byte_strides)[3], int kernel, int pad, unsigned pixels,
                                         const char* what) {
  using Encode = CUresult (*)(CUtensorMap*, CUtensorMapDataType, cuuint32_t, void*, const cuuint64_t*,
                              const cuuint64_t*, const int*, const int*, cuuint32_t, cuuint32_t, const cuuint32_t*,
                              CUtensorMapInterleave, CUtensorMapSwizzle, CUtensorMapL2promotion,
                              CUtensorMapFloatOOBfill);
  static const auto encode = reinterpret_cast<Encode>(driver_function("cuTensorMapEncodeIm2col"));
  TensorMap t{};
  const cuuint64_t gdim[4] = {dims[0], dims[1], dims[2], dims[3]};
  const cuuint64_t gstride[3] = {byte_strides[0], byte_strides[1], byte_strides[2]};
  const int lower[2] = {-pad, -pad}, upper[2] = {pad - (kernel - 1), pad - (kernel - 1)};  // (W, H)
  const cuuint32_t elem[4] = {1, 1, 1, 1};
  const CUresult r = encode(&t.map, bf16 ? CU_TENSOR_MAP_DATA_TYPE_BFLOAT16 : CU_TENSOR_MAP_DATA_TYPE_FLOAT16, 4,
                            const_cast<void*>(base), gdim, gstride, lower, upper, 64, pixels, elem,
                            CU_TENSOR_MAP_INTERLEAVE_NONE, CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B,
                            CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  FUSEKIT_CHECK(r == CUDA_SUCCESS,
                "TMA: cuTensorMapEncodeIm2col failed (error {}) for {}: dims (C, W, H, N) [{}, {}, {}, {}], byte strides "
                "[{}, {}, {}], kernel {}, pad {}, {} pixels, address {}",
                static_cast<int>(r), what, dims[0], dims[1], dims[2], dims[3], byte_strides[0], byte_strides[1],
                byte_strides[2], kernel, pad, pixels, base);
  return t;
}

FUSEKIT_DEVICE inline std::uint32_t smem_address(const void* p) {
  return static_cast<std::uint32_t>(__cvta_generic_to_shared(p));
}

FUSEKIT_DEVICE inline void mbarrier_init(std::uint64_t* bar, unsigned count) {
#if FUSEKIT_SM90A
  asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;\n" ::"r"(smem_address(bar)), "r"(count) : "memory");
#else
  (void)bar, (void)count;
  trap();
#endif
}

// Makes barrier initialisations visible to the copy engine (then a __syncthreads for the threads).
FUSEKIT_DEVICE inline void mbarrier_init_fence() {
#if FUSEKIT_SM90A
  asm volatile("fence.mbarrier_init.release.cluster;\n" ::: "memory");
#endif
}

FUSEKIT_DEVICE inline void mbarrier_arrive(std::uint64_t* bar) {
#if FUSEKIT_SM90A
  asm volatile("mbarrier.arrive.shared::cta.b64 _, [%0];\n" ::"r"(smem_address(bar)) : "memory");
#else
  (void)bar;
#endif
}

// Arrives and announces `bytes` more transaction bytes for the current phase.
FUSEKIT_DEVICE inline void mbarrier_arrive_expect_tx(std::uint64_t* bar, unsigned bytes) {
#if FUSEKIT_SM90A
  asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;\n" ::"r"(smem_address(bar)), "r"(bytes)
               : "memory");
#else
  (void)bar, (void)bytes;
#endif
}

// Announces `bytes` more transaction bytes for the current phase, without arriving.
FUSEKIT_DEVICE inline void mbarrier_expect_tx(std::uint64_t* bar, unsigned bytes) {
#if FUSEKIT_SM90A
  asm volatile("mbarrier.expect_tx.relaxed.cta.shared::cta.b64 [%0], %1;\n" ::"r"(smem_address(bar)), "r"(bytes)
               : "memory");
#else
  (void)bar, (void)bytes;
#endif
}

// Orders this thread's earlier generic-proxy writes to shared memory (st.shared, cp.async) before later
// async-proxy accesses (wgmma operand reads, TMA).
FUSEKIT_DEVICE inline void fence_proxy_async_shared() {
#if FUSEKIT_SM90A
  asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
#endif
}

// Waits until the phase with this parity (0 for the first, 1 for the second, ...) has completed.
FUSEKIT_DEVICE inline void mbarrier_wait_parity(std::uint64_t* bar, unsigned parity) {
#if FUSEKIT_SM90A
  const std::uint32_t a = smem_address(bar);
  std::uint32_t done = 0;
  do {
    asm volatile(
        "{\n.reg .pred p;\nmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\nselp.u32 %0, 1, 0, p;\n}\n"
        : "=r"(done)
        : "r"(a), "r"(parity)
        : "memory");
  } while (!done);
#else
  (void)bar, (void)parity;
#endif
}

// `bytes` (a multiple of 16, both addresses 16-byte aligned) from global memory into this block's shared
// memory, completing as transaction bytes on `bar` (a 1-D bulk copy: no tensor map).
FUSEKIT_DEVICE inline void bulk_copy_g2s(void* dst, const void* src, unsigned bytes, std::uint64_t* bar) {
#if FUSEKIT_SM90A
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   smem_address(dst)),
               "l"(src), "r"(bytes), "r"(smem_address(bar))
               : "memory");
#else
  (void)dst, (void)src, (void)bytes, (void)bar;
  trap();
#endif
}

// Box at element coordinates (c0 innermost, c1, c2) of `map` into shared memory at dst (1024-byte
// aligned for the 128-byte swizzle); completes `bytes` of the barrier's transaction count.
FUSEKIT_DEVICE inline void tma_load_3d(void* dst, const TensorMap& map, std::uint64_t* bar, int c0, int c1, int c2) {
#if FUSEKIT_SM90A
  asm volatile(
      "cp.async.bulk.tensor.3d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5}], "
      "[%2];\n" ::"r"(smem_address(dst)),
      "l"(reinterpret_cast<std::uint64_t>(&map.map)), "r"(smem_address(bar)), "r"(c0), "r"(c1), "r"(c2)
      : "memory");
#else
  (void)dst, (void)map, (void)bar, (void)c0, (void)c1, (void)c2;
  trap();
#endif
}

// im2col box of `map` into shared memory at dst: the filter corner of the column's first pixel at
// (w, h) of image n (so w = output column - pad), channels c.., filter tap (off_w, off_h).
FUSEKIT_DEVICE inline void tma_load_im2col_4d(void* dst, const TensorMap& map, std::uint64_t* bar, int c, int w, int h,
                                              int n, std::uint16_t off_w, std::uint16_t off_h) {
#if FUSEKIT_SM90A
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.im2col.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, "
      "%6}], [%2], {%7, %8};\n" ::"r"(smem_address(dst)),
      "l"(reinterpret_cast<std::uint64_t>(&map.map)), "r"(smem_address(bar)), "r"(c), "r"(w), "r"(h), "r"(n),
      "h"(off_w), "h"(off_h)
      : "memory");
#else
  (void)dst, (void)map, (void)bar, (void)c, (void)w, (void)h, (void)n, (void)off_w, (void)off_h;
  trap();
#endif
}

// Fetches the box at (c0, c1, c2) of `map` into L2 (no shared memory, no barrier). L2 is where every
// writer's data lands, so this may run before a kernel waits for the grid that writes the tensor.
FUSEKIT_DEVICE inline void tma_prefetch_l2_3d(const TensorMap& map, int c0, int c1, int c2) {
#if FUSEKIT_SM90A
  asm volatile("cp.async.bulk.prefetch.tensor.3d.L2.global.tile [%0, {%1, %2, %3}];\n" ::"l"(
                   reinterpret_cast<std::uint64_t>(&map.map)),
               "r"(c0), "r"(c1), "r"(c2)
               : "memory");
#else
  (void)map, (void)c0, (void)c1, (void)c2;
#endif
}

// Fetches a tensor map into the descriptor cache ahead of its first copy.
FUSEKIT_DEVICE inline void tma_prefetch(const TensorMap& map) {
#if FUSEKIT_SM90A
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<std::uint64_t>(&map.map)) : "memory");
#else
  (void)map;
#endif
}

}  // namespace fusekit::gpu
#endif
