#pragma once
// The only header that looks at compiler, vendor and compile-pass macros. Everything else uses these.
//
//   FUSEKIT_GPUCC                 1 when nvcc or hipcc compiles this translation unit (either pass)
//   FUSEKIT_GPU_COMPILE_PHASE     1 in the device pass only (CUDA __CUDA_ARCH__ / HIP __HIP_DEVICE_COMPILE__)
//   FUSEKIT_VENDOR_CUDA / _HIP    which GPU runtime the vendor layer maps to (0/1)
//   FUSEKIT_HOST_DEVICE           callable from host and device code
//   FUSEKIT_DEVICE                device-only function
//   FUSEKIT_GLOBAL                kernel entry point

#if defined(__CUDACC__) && !defined(__HIP__)
#define FUSEKIT_GPUCC 1
#define FUSEKIT_VENDOR_CUDA 1
#define FUSEKIT_VENDOR_HIP 0
#elif defined(__HIPCC__) || defined(__HIP__)
#define FUSEKIT_GPUCC 1
#define FUSEKIT_VENDOR_CUDA 0
#define FUSEKIT_VENDOR_HIP 1
#else
#define FUSEKIT_GPUCC 0
#define FUSEKIT_VENDOR_CUDA 0
#define FUSEKIT_VENDOR_HIP 0
#endif

#if (defined(__CUDA_ARCH__) && FUSEKIT_VENDOR_CUDA) || defined(__HIP_DEVICE_COMPILE__)
#define FUSEKIT_GPU_COMPILE_PHASE 1
#else
#define FUSEKIT_GPU_COMPILE_PHASE 0
#endif

#if FUSEKIT_GPUCC
#define FUSEKIT_HOST_DEVICE __host__ __device__
#define FUSEKIT_DEVICE __device__
#define FUSEKIT_GLOBAL __global__
#define FUSEKIT_SHARED __shared__
#else
#define FUSEKIT_HOST_DEVICE
#define FUSEKIT_DEVICE
#define FUSEKIT_GLOBAL
#define FUSEKIT_SHARED
#endif

// fmt 9 turns its constexpr off under nvcc, which then breaks C++20 host compilation and fmt's
// compile-time format checks; nvcc 12+ handles fmt's constexpr code fine. (fusekit::hip also defines it
// for CUDA sources, for files that include fmt before fusekit.)
#if defined(__NVCC__) && !defined(FMT_USE_CONSTEXPR)
#define FMT_USE_CONSTEXPR 1
#endif

// A kernel parameter that device code reads by reference (dynamic indexing into a parameter struct)
// without a per-thread local copy: __grid_constant__ on CUDA; HIP kernel arguments already behave so.
#if FUSEKIT_VENDOR_CUDA
#define FUSEKIT_GRID_CONSTANT __grid_constant__
#else
#define FUSEKIT_GRID_CONSTANT
#endif

#define FUSEKIT_INLINE inline
// FUSEKIT_UNROLL: fully; FUSEKIT_UNROLL_4: by 4, for loops whose trip count is known only at run time
// (so that four iterations' loads are in flight together).
#if defined(__CUDACC__) || defined(__clang__)
#define FUSEKIT_UNROLL _Pragma("unroll")
#define FUSEKIT_UNROLL_4 _Pragma("unroll 4")
#else
#define FUSEKIT_UNROLL
#define FUSEKIT_UNROLL_4
#endif
// FUSEKIT_IVDEP: the loop's pointers do not overlap (CPU loops over arrays the compiler cannot prove
// apart), so it vectorises without run-time overlap checks.
#if defined(__clang__)
#define FUSEKIT_IVDEP _Pragma("clang loop vectorize(assume_safety)")
#elif defined(__GNUC__) && !defined(__CUDACC__)
#define FUSEKIT_IVDEP _Pragma("GCC ivdep")
#else
#define FUSEKIT_IVDEP
#endif

// Architecture families for device passes; used to pick wave size and matrix atoms.
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_HIP && defined(__GFX9__)
#define FUSEKIT_AMD_GFX9 1  // CDNA (gfx908/gfx90a/gfx94x): wave64
#else
#define FUSEKIT_AMD_GFX9 0
#endif

// FUSEKIT_SM90A: 1 in a device pass for sm_90a (wgmma, TMA and setmaxnreg need the "a" target).
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA && defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define FUSEKIT_SM90A 1
#else
#define FUSEKIT_SM90A 0
#endif

// NVIDIA architecture of the device pass (800 for sm_80, 900 for sm_90a), 0 elsewhere: picks the
// matrix-core atoms (mma.sync needs sm_80+) and asynchronous copies.
#if FUSEKIT_GPU_COMPILE_PHASE && FUSEKIT_VENDOR_CUDA
#define FUSEKIT_CUDA_ARCH __CUDA_ARCH__
#else
#define FUSEKIT_CUDA_ARCH 0
#endif

#define FUSEKIT_VERSION_MAJOR 0
#define FUSEKIT_VERSION_MINOR 1
#define FUSEKIT_VERSION_PATCH 0

namespace fusekit {
// Host-side description of the build, printed by examples and benches.
inline constexpr const char* gpu_vendor_name() {
#if FUSEKIT_VENDOR_CUDA
  return "NVIDIA (CUDA runtime)";
#elif FUSEKIT_VENDOR_HIP
  return "AMD (HIP runtime)";
#else
  return "none (CPU only)";
#endif
}
}  // namespace fusekit
