#pragma once
// Facts about the current GPU, read from the runtime (host code never assumes a warp size).
#include <string>

#include "fusekit/backend/hip/check.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

struct Device {
  int index = 0;
  std::string name;
  std::string arch;  // "sm_90" or "gfx90a:sramecc+:xnack-"
  int multiprocessors = 0;
  int warp_size = 0;
  std::size_t total_memory = 0;
  std::size_t shared_memory_per_block_optin = 0;
  std::size_t l2_bytes = 0;

  static Device current() {
    Device d;
    FUSEKIT_GPU_CHECK(gpu::get_device(&d.index));
    gpu::device_prop_t p{};
    FUSEKIT_GPU_CHECK(gpu::get_device_properties(&p, d.index));
    char buf[64];
    d.name = p.name;
    d.arch = gpu::arch_name(p, buf, sizeof buf);
    d.multiprocessors = p.multiProcessorCount;
    d.warp_size = p.warpSize;
    d.total_memory = p.totalGlobalMem;
    d.shared_memory_per_block_optin = gpu::shared_memory_per_block_optin(p);
    d.l2_bytes = static_cast<std::size_t>(p.l2CacheSize);
    return d;
  }
};

// Number of visible GPUs; 0 (not an exception) when there is no driver or no device.
inline int device_count() {
  int n = 0;
  if (gpu::get_device_count(&n) != gpu::success) {
    (void)gpu::get_last_error();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

}  // namespace fusekit::hip
#endif
