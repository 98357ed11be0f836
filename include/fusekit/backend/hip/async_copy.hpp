#pragma once
// 16-byte global -> shared copies for multi-stage pipelines. On NVIDIA sm_80+ they are asynchronous
// (cp.async: the copy overlaps the math on earlier stages; a group is waited for with
// copy_async_wait<n>: at most n newer groups still in flight). Elsewhere (AMD, older NVIDIA) they are a
// plain load and store, and commit/wait only order nothing: the caller's barrier does.
// An invalid source is never read: its 16 bytes are zero-filled.
#include "fusekit/backend/hip/vendor.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::gpu {

FUSEKIT_DEVICE inline void copy_async16(void* smem, const void* gmem, bool valid) {
#if FUSEKIT_CUDA_ARCH >= 800
  const unsigned s = static_cast<unsigned>(__cvta_generic_to_shared(smem));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(s), "l"(gmem), "r"(valid ? 16 : 0));
#else
  int4 v{0, 0, 0, 0};
  if (valid) v = *reinterpret_cast<const int4*>(gmem);
  *reinterpret_cast<int4*>(smem) = v;
#endif
}

FUSEKIT_DEVICE inline void copy_async_commit() {
#if FUSEKIT_CUDA_ARCH >= 800
  asm volatile("cp.async.commit_group;\n" ::);
#endif
}

template <int kPending>
FUSEKIT_DEVICE inline void copy_async_wait() {
#if FUSEKIT_CUDA_ARCH >= 800
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
#endif
}

}  // namespace fusekit::gpu
#endif
