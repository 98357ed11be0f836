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

// Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
inline unsigned grid_for(index_t n, int block, const Device& d, int blocks_per_sm = 8) {
  const index_t needed = (n + block - 1) / block;
  const index_t cap = static_cast<index_t>(d.multiprocessors) * blocks_per_sm;
  return static_cast<unsigned>(needed < cap ? needed : cap);
}

}  // namespace fusekit::hip
#endif
