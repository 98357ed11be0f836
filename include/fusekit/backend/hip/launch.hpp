#pragma once
// One entry point for kernel launches: skips empty grids, launches on the stream, checks the last error
// and names the kernel in the message.
#include "fusekit/backend/hip/stream.hpp"
#include "fusekit/core/shape.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

template <class... KArgs, class... Args>
void launch(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, const Stream& s,
            Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  kernel<<<grid, block, smem, s.get()>>>(std::forward<Args>(args)...);
  FUSEKIT_CHECK_LAUNCH(name);
}

// Like launch(), but on NVIDIA the kernel may be scheduled while the previous kernel on the stream is still
// running (programmatic dependent launch; also inside graphs), which hides the launch gap between a kernel
// and its short follow-up. The kernel must call gpu::wait_for_prior_grid() before it touches what the
// previous kernel wrote; the previous one may call gpu::allow_dependent_launch() early. Elsewhere (AMD) a
// plain launch.
template <class... KArgs, class... Args>
void launch_dependent(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem,
                      const Stream& s, Args&&... args) {
#if FUSEKIT_VENDOR_CUDA
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s.get();
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  FUSEKIT_GPU_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
  FUSEKIT_CHECK_LAUNCH(name);
#else
  launch(name, kernel, grid, block, smem, s, std::forward<Args>(args)...);
#endif
}

// Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
inline unsigned grid_for(index_t n, int block, const Device& d, int blocks_per_sm = 8) {
  const index_t needed = (n + block - 1) / block;
  const index_t cap = static_cast<index_t>(d.multiprocessors) * blocks_per_sm;
  return static_cast<unsigned>(needed < cap ? needed : cap);
}

}  // namespace fusekit::hip
#endif
