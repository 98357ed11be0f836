#pragma once
// Refuses a GPU the binary holds no code for, with a message that says how to rebuild, instead of the
// runtime's bare "no kernel image is available" at the first launch of some kernel. hip::Stream runs it
// once per device.
#include <atomic>
#include <cstdint>

#include "fusekit/backend/hip/device.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

namespace detail {
template <int>
__global__ void arch_probe() {}  // (a template: a kernel defined in a header must be inline)

#define FUSEKIT_ARCH_STR2(...) #__VA_ARGS__  // (variadic: the list holds commas)
#define FUSEKIT_ARCH_STR(...) FUSEKIT_ARCH_STR2(__VA_ARGS__)
inline const char* built_targets() {
#if defined(__CUDA_ARCH_LIST__)
  return "compute capabilities " FUSEKIT_ARCH_STR(__CUDA_ARCH_LIST__) " (CMAKE_CUDA_ARCHITECTURES)";
#elif FUSEKIT_VENDOR_CUDA
  return "the CMAKE_CUDA_ARCHITECTURES it was configured with";
#else
  return "the FUSEKIT_AMD_TARGETS (--offload-arch) it was configured with";
#endif
}
#undef FUSEKIT_ARCH_STR
#undef FUSEKIT_ARCH_STR2
}  // namespace detail

inline void require_code_for_current_device() {
  static std::atomic<std::uint64_t> checked{0};  // one bit per device index below 64
  int index = 0;
  FUSEKIT_GPU_CHECK(gpu::get_device(&index));
  const std::uint64_t bit = index < 64 ? std::uint64_t{1} << index : 0;
  if (bit && (checked.load(std::memory_order_relaxed) & bit)) return;
  const gpu::error_t e = gpu::func_loadable(detail::arch_probe<0>);
  if (e != gpu::success) {
    (void)gpu::get_last_error();
    const Device d = Device::current();
    fail("GPU {} '{}' is {}, which this binary was not built for (it holds code for {}; {}): rebuild with "
         "that architecture added",
         d.index, d.name, d.arch, detail::built_targets(), gpu::error_name(e));
  }
  checked.fetch_or(bit, std::memory_order_relaxed);
}

}  // namespace fusekit::hip
#endif
