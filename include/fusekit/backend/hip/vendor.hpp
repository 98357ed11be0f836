#pragma once
// The one place where HIP and CUDA differ. Kernels and the rest of the HIP backend call fusekit::gpu::*
// (runtime) and the warp primitives below; nothing else names cuda* or hip* functions.
// AMD: the HIP runtime (+ rocPRIM). NVIDIA: the CUDA runtime (+ CUB). Debian's HIP-on-NVIDIA headers do
// not build against CUDA 13, so NVIDIA is served by the CUDA runtime directly.
#include "fusekit/config.hpp"

#if FUSEKIT_VENDOR_CUDA
#include <cuda_runtime.h>
#elif FUSEKIT_VENDOR_HIP
#include <hip/hip_runtime.h>
#endif

#if FUSEKIT_GPUCC
#include <cstddef>
#include <cstdint>

namespace fusekit::gpu {

#if FUSEKIT_VENDOR_CUDA
using error_t = cudaError_t;
using stream_t = cudaStream_t;
using event_t = cudaEvent_t;
using graph_t = cudaGraph_t;
using graph_exec_t = cudaGraphExec_t;
using device_prop_t = cudaDeviceProp;
inline constexpr error_t success = cudaSuccess;
inline constexpr error_t error_out_of_memory = cudaErrorMemoryAllocation;

inline const char* error_name(error_t e) { return cudaGetErrorName(e); }
inline const char* error_string(error_t e) { return cudaGetErrorString(e); }
inline error_t get_last_error() { return cudaGetLastError(); }
inline error_t peek_last_error() { return cudaPeekAtLastError(); }
inline error_t get_device_count(int* n) { return cudaGetDeviceCount(n); }
inline error_t get_device(int* d) { return cudaGetDevice(d); }
inline error_t set_device(int d) { return cudaSetDevice(d); }
inline error_t get_device_properties(device_prop_t* p, int d) { return cudaGetDeviceProperties(p, d); }
inline error_t device_synchronize() { return cudaDeviceSynchronize(); }
inline error_t malloc_device(void** p, std::size_t n) { return cudaMalloc(p, n); }
inline error_t free_device(void* p) { return cudaFree(p); }
inline error_t malloc_host(void** p, std::size_t n) { return cudaMallocHost(p, n); }
inline error_t free_host(void* p) { return cudaFreeHost(p); }
inline error_t mem_get_info(std::size_t* free, std::size_t* total) { return cudaMemGetInfo(free, total); }
inline error_t memcpy_h2d_async(void* d, const void* s, std::size_t n, stream_t st) {
  return cudaMemcpyAsync(d, s, n, cudaMemcpyHostToDevice, st);
}
inline error_t memcpy_d2h_async(void* d, const void* s, std::size_t n, stream_t st) {
  return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToHost, st);
}
inline error_t memcpy_d2d_async(void* d, const void* s, std::size_t n, stream_t st) {
  return cudaMemcpyAsync(d, s, n, cudaMemcpyDeviceToDevice, st);
}
inline error_t memset_async(void* d, int v, std::size_t n, stream_t st) { return cudaMemsetAsync(d, v, n, st); }
inline error_t stream_create(stream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamNonBlocking); }
inline error_t stream_destroy(stream_t s) { return cudaStreamDestroy(s); }
inline error_t stream_synchronize(stream_t s) { return cudaStreamSynchronize(s); }
inline error_t stream_wait_event(stream_t s, event_t e) { return cudaStreamWaitEvent(s, e, 0); }
inline error_t stream_is_capturing(stream_t s, bool* capturing) {
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  const error_t e = cudaStreamIsCapturing(s, &st);
  *capturing = st != cudaStreamCaptureStatusNone;
  return e;
}
inline error_t event_create(event_t* e) { return cudaEventCreate(e); }
inline error_t event_destroy(event_t e) { return cudaEventDestroy(e); }
inline error_t event_record(event_t e, stream_t s) { return cudaEventRecord(e, s); }
inline error_t event_synchronize(event_t e) { return cudaEventSynchronize(e); }
inline error_t event_elapsed_ms(float* ms, event_t a, event_t b) { return cudaEventElapsedTime(ms, a, b); }
inline error_t stream_begin_capture(stream_t s) { return cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal); }
inline error_t stream_end_capture(stream_t s, graph_t* g) { return cudaStreamEndCapture(s, g); }
inline error_t graph_instantiate(graph_exec_t* x, graph_t g) { return cudaGraphInstantiate(x, g, 0); }
inline error_t graph_launch(graph_exec_t x, stream_t s) { return cudaGraphLaunch(x, s); }
inline error_t graph_destroy(graph_t g) { return cudaGraphDestroy(g); }
inline error_t graph_exec_destroy(graph_exec_t x) { return cudaGraphExecDestroy(x); }
template <class Kernel>
inline error_t func_set_max_dynamic_smem(Kernel k, int bytes) {
  return cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
// The architecture a kernel's loaded binary was built for (90 for sm_90a), to refuse code paths that
// need a newer one than the build targeted.
template <class Kernel>
inline error_t func_binary_arch(Kernel k, int* arch) {
  cudaFuncAttributes a{};
  const error_t e = cudaFuncGetAttributes(&a, k);
  *arch = a.binaryVersion;
  return e;
}
// Static shared memory of a kernel's loaded binary (kernels whose arch-specific body declares some
// tell the host this way which body the binary for this GPU holds).
// The virtual architecture the kernel's code was compiled from (80 for sm_80 SASS or PTX JIT-compiled
// on a newer GPU): what the device code's FUSEKIT_CUDA_ARCH was.
template <class Kernel>
inline error_t func_ptx_arch(Kernel k, int* arch) {
  cudaFuncAttributes a{};
  const error_t e = cudaFuncGetAttributes(&a, k);
  *arch = a.ptxVersion;
  return e;
}
template <class Kernel>
inline error_t func_static_smem(Kernel k, std::size_t* bytes) {
  cudaFuncAttributes a{};
  const error_t e = cudaFuncGetAttributes(&a, k);
  *bytes = a.sharedSizeBytes;
  return e;
}
// Success when the loaded binary holds code for the current device (the error a launch would give
// otherwise).
template <class Kernel>
inline error_t func_loadable(Kernel k) {
  cudaFuncAttributes a{};
  return cudaFuncGetAttributes(&a, k);
}
inline std::size_t shared_memory_per_block_optin(const device_prop_t& p) { return p.sharedMemPerBlockOptin; }
inline const char* arch_name(const device_prop_t& p, char* buf, std::size_t n) {
  // "sm_90": compute capability, as nvcc names targets.
  int k = 0;
  const char pre[] = "sm_";
  for (char c : pre) if (c && k + 1 < static_cast<int>(n)) buf[k++] = c;
  if (k + 1 < static_cast<int>(n)) buf[k++] = static_cast<char>('0' + p.major % 10);
  if (k + 1 < static_cast<int>(n)) buf[k++] = static_cast<char>('0' + p.minor % 10);
  buf[k] = 0;
  return buf;
}
#else
using error_t = hipError_t;
using stream_t = hipStream_t;
using event_t = hipEvent_t;
using graph_t = hipGraph_t;
using graph_exec_t = hipGraphExec_t;
using device_prop_t = hipDeviceProp_t;
inline constexpr error_t success = hipSuccess;
inline constexpr error_t error_out_of_memory = hipErrorOutOfMemory;

inline const char* error_name(error_t e) { return hipGetErrorName(e); }
inline const char* error_string(error_t e) { return hipGetErrorString(e); }
inline error_t get_last_error() { return hipGetLastError(); }
inline error_t peek_last_error() { return hipPeekAtLastError(); }
inline error_t get_device_count(int* n) { return hipGetDeviceCount(n); }
inline error_t get_device(int* d) { return hipGetDevice(d); }
inline error_t set_device(int d) { return hipSetDevice(d); }
inline error_t get_device_properties(device_prop_t* p, int d) { return hipGetDeviceProperties(p, d); }
inline error_t device_synchronize() { return hipDeviceSynchronize(); }
inline error_t malloc_device(void** p, std::size_t n) { return hipMalloc(p, n); }
inline error_t free_device(void* p) { return hipFree(p); }
inline error_t malloc_host(void** p, std::size_t n) { return hipHostMalloc(p, n, 0); }
inline error_t free_host(void* p) { return hipHostFree(p); }
inline error_t mem_get_info(std::size_t* free, std::size_t* total) { return hipMemGetInfo(free, total); }
inline error_t memcpy_h2d_async(void* d, const void* s, std::size_t n, stream_t st) {
  return hipMemcpyAsync(d, s, n, hipMemcpyHostToDevice, st);
}
inline error_t memcpy_d2h_async(void* d, const void* s, std::size_t n, stream_t st) {
  return hipMemcpyAsync(d, s, n, hipMemcpyDeviceToHost, st);
}
inline error_t memcpy_d2d_async(void* d, const void* s, std::size_t n, stream_t st) {
  return hipMemcpyAsync(d, s, n, hipMemcpyDeviceToDevice, st);
}
inline error_t memset_async(void* d, int v, std::size_t n, stream_t st) { return hipMemsetAsync(d, v, n, st); }
inline error_t stream_create(stream_t* s) { return hipStreamCreateWithFlags(s, hipStreamNonBlocking); }
inline error_t stream_destroy(stream_t s) { return hipStreamDestroy(s); }
inline error_t stream_synchronize(stream_t s) { return hipStreamSynchronize(s); }
inline error_t stream_wait_event(stream_t s, event_t e) { return hipStreamWaitEvent(s, e, 0); }
inline error_t stream_is_capturing(stream_t s, bool* capturing) {
  hipStreamCaptureStatus st = hipStreamCaptureStatusNone;
  const error_t e = hipStreamIsCapturing(s, &st);
  *capturing = st != hipStreamCaptureStatusNone;
  return e;
}
inline error_t event_create(event_t* e) { return hipEventCreate(e); }
inline error_t event_destroy(event_t e) { return hipEventDestroy(e); }
inline error_t event_record(event_t e, stream_t s) { return hipEventRecord(e, s); }
inline error_t event_synchronize(event_t e) { return hipEventSynchronize(e); }
inline error_t event_elapsed_ms(float* ms, event_t a, event_t b) { return hipEventElapsedTime(ms, a, b); }
inline error_t stream_begin_capture(stream_t s) { return hipStreamBeginCapture(s, hipStreamCaptureModeThreadLocal); }
inline error_t stream_end_capture(stream_t s, graph_t* g) { return hipStreamEndCapture(s, g); }
inline error_t graph_instantiate(graph_exec_t* x, graph_t g) { return hipGraphInstantiateWithFlags(x, g, 0); }
inline error_t graph_launch(graph_exec_t x, stream_t s) { return hipGraphLaunch(x, s); }
inline error_t graph_destroy(graph_t g) { return hipGraphDestroy(g); }
inline error_t graph_exec_destroy(graph_exec_t x) { return hipGraphExecDestroy(x); }
template <class Kernel>
inline error_t func_set_max_dynamic_smem(Kernel k, int bytes) {
  return hipFuncSetAttribute(reinterpret_cast<const void*>(k), hipFuncAttributeMaxDynamicSharedMemorySize, bytes);
}
template <class Kernel>
inline error_t func_binary_arch(Kernel, int* arch) {
  *arch = 0;  // not used on AMD: the AMD paths need no minimum architecture
  return hipSuccess;
}
template <class Kernel>
inline error_t func_ptx_arch(Kernel, int* arch) {
  *arch = 0;  // not used on AMD
  return hipSuccess;
}
template <class Kernel>
inline error_t func_static_smem(Kernel, std::size_t* bytes) {
  *bytes = 0;  // not used on AMD
  return hipSuccess;
}
template <class Kernel>
inline error_t func_loadable(Kernel k) {
  hipFuncAttributes a{};
  return hipFuncGetAttributes(&a, reinterpret_cast<const void*>(k));
}
inline std::size_t shared_memory_per_block_optin(const device_prop_t& p) { return p.sharedMemPerBlock; }
inline const char* arch_name(const device_prop_t& p, char*, std::size_t) { return p.gcnArchName; }
#endif

// ---- warp-level primitives (device code) ----

// Lanes in a warp/wavefront for the architecture being compiled: 64 on AMD gfx9 (CDNA), 32 elsewhere
// (NVIDIA, RDNA gfx10/11/12). A compile-time fact of the device pass, never a literal in kernels.
// Device-only on purpose: the host pass cannot know it; host code asks hip::Device::warp_size().
FUSEKIT_DEVICE constexpr int warp_size() {
#if FUSEKIT_AMD_GFX9
  return 64;
#else
  return 32;
#endif
}

#if FUSEKIT_VENDOR_CUDA
template <class T>
FUSEKIT_DEVICE inline T shfl_xor(T v, int lane_mask) {
  return __shfl_xor_sync(0xffffffffu, v, lane_mask, warp_size());
}
template <class T>
FUSEKIT_DEVICE inline T shfl(T v, int src_lane) {
  return __shfl_sync(0xffffffffu, v, src_lane, warp_size());
}
#else
template <class T>
FUSEKIT_DEVICE inline T shfl_xor(T v, int lane_mask) {
  return __shfl_xor(v, lane_mask, warp_size());
}
template <class T>
FUSEKIT_DEVICE inline T shfl(T v, int src_lane) {
  return __shfl(v, src_lane, warp_size());
}
#endif

// Programmatic dependent launch (hip::launch_dependent): a no-op before sm_90 and on AMD, where the
// dependent kernel only starts after the previous one anyway.
FUSEKIT_DEVICE inline void wait_for_prior_grid() {
#if FUSEKIT_VENDOR_CUDA && FUSEKIT_CUDA_ARCH >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
FUSEKIT_DEVICE inline void allow_dependent_launch() {
#if FUSEKIT_VENDOR_CUDA && FUSEKIT_CUDA_ARCH >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

// Brings the 128-byte line holding `p` into L2 (NVIDIA; a no-op elsewhere). Safe before
// wait_for_prior_grid(): L2 is where global memory is coherent, so a line fetched early is updated by the
// earlier kernel's writes (unlike a load into registers or L1).
FUSEKIT_DEVICE inline void prefetch_l2(const void* p) {
#if FUSEKIT_VENDOR_CUDA
  asm volatile("prefetch.global.L2 [%0];\n" ::"l"(p));
#else
  (void)p;
#endif
}

// Stops the kernel with an error (code paths that must never run on the architecture compiled for).
FUSEKIT_DEVICE inline void trap() {
#if FUSEKIT_VENDOR_CUDA
  __trap();
#else
  __builtin_trap();
#endif
}

// A load that bypasses this multiprocessor's L1 (which other blocks' writes do not update): data
// another block published with a fence and a counter. (AMD: plain load; no AMD path uses it yet.)
FUSEKIT_DEVICE inline float4 load_global_coherent(const float4* p) {
#if FUSEKIT_VENDOR_CUDA
  return __ldcg(p);
#else
  return *p;
#endif
}

// Two floats to 8-byte aligned global memory in one instruction, for data another kernel reads (NVIDIA:
// st.global.cg, L2 only). A float2 built from two scalars and stored through a float* is otherwise often
// split into two 4-byte stores (the vectorizer cannot prove the alignment): the attention kernel's
// partial rows went out that way, 64 stores per thread instead of 32.
FUSEKIT_DEVICE inline void store_pair(float* p, float a, float b) {
#if FUSEKIT_VENDOR_CUDA
  __stcg(reinterpret_cast<float2*>(p), make_float2(a, b));
#else
  *reinterpret_cast<float2*>(p) = make_float2(a, b);
#endif
}

// 16-byte loads and stores for data touched once (streamed rows): a cache hint on NVIDIA (evict first,
// ld/st .cs) so streamed bytes do not push reused ones (weights) out of L2; plain accesses on AMD.
template <class V>
FUSEKIT_DEVICE inline V load_streaming(const V* p) {
  static_assert(sizeof(V) == 16, "load_streaming moves 16-byte vectors");
#if FUSEKIT_VENDOR_CUDA
  const int4 r = __ldcs(reinterpret_cast<const int4*>(p));
  V v;
  __builtin_memcpy(&v, &r, 16);
  return v;
#else
  return *p;
#endif
}

template <class V>
FUSEKIT_DEVICE inline void store_streaming(V* p, const V& v) {
  static_assert(sizeof(V) == 16, "store_streaming moves 16-byte vectors");
#if FUSEKIT_VENDOR_CUDA
  int4 r;
  __builtin_memcpy(&r, &v, 16);
  __stcs(reinterpret_cast<int4*>(p), r);
#else
  *p = v;
#endif
}

}  // namespace fusekit::gpu
#endif  // FUSEKIT_GPUCC
