#pragma once
// One entry point for kernel launches: skips empty grids, launches on the stream, checks the last error
// and names the kernel in the message.
#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

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

// Launch attributes beyond the grid (NVIDIA; elsewhere a plain launch, and clusters are refused):
//   dependent   the kernel may be scheduled while the previous kernel on the stream still runs
//               (programmatic dependent launch; also inside graphs), which hides the launch gap and the
//               kernel's preamble. The kernel must call gpu::wait_for_prior_grid() before it touches
//               memory an earlier kernel writes or reads; an earlier one may call
//               gpu::allow_dependent_launch() to let it start before its own end.
//   cluster_y   blocks along y (or z) grouped in clusters of this size (sm_90: they run together and
//   cluster_z   share shared memory); the grid must be a multiple, at most 8 blocks (portable size)
struct LaunchAttrs {
  bool dependent = false;
  unsigned cluster_y = 1;
  unsigned cluster_z = 1;
};

// Whether the code that runs `kernel` here was compiled for sm_90+ (cluster instructions, and
// griddepcontrol.wait): an sm_80 build (SASS, or PTX compiled on the fly) running on an H100 has them
// compiled away, so it must not be launched dependent or in clusters. Cached per kernel.
inline bool has_sm90_code(const void* kernel) {
  static std::mutex m;
  static std::unordered_map<const void*, bool> known;
  const std::lock_guard<std::mutex> lock(m);
  if (const auto it = known.find(kernel); it != known.end()) return it->second;
  int arch = 0;
  FUSEKIT_GPU_CHECK(gpu::func_ptx_arch(kernel, &arch));
  return known[kernel] = arch >= 90;
}
template <class... KArgs>
bool has_sm90_code(void (*kernel)(KArgs...)) {
  return has_sm90_code(reinterpret_cast<const void*>(kernel));
}

// FUSEKIT_DEPENDENT_LAUNCH=0 in the environment launches every kernel plainly, one after another (A/B
// timing of the dependent launches, or ruling them out while debugging); a comma-separated list of
// kernel names (as launches name them, e.g. "attention_mma,gemm_wgmma") launches just those plainly.
// Read once.
inline bool dependent_launches_enabled(const char* kernel_name = nullptr) {
  static const std::string setting = [] {
    const char* e = std::getenv("FUSEKIT_DEPENDENT_LAUNCH");
    return std::string(e ? e : "");
  }();
  if (setting == "0") return false;
  if (setting.empty() || !kernel_name) return true;
  const std::string name = kernel_name;
  for (std::size_t at = 0; at <= setting.size();) {
    const std::size_t end = std::min(setting.find(',', at), setting.size());
    if (setting.compare(at, end - at, name) == 0) return false;
    at = end + 1;
  }
  return true;
}

template <class... KArgs, class... Args>
void launch_with(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem, const Stream& s,
                 const LaunchAttrs& a, Args&&... args) {
  if (grid.x == 0 || grid.y == 0 || grid.z == 0) return;
  FUSEKIT_CHECK(a.cluster_y >= 1 && a.cluster_z >= 1 && a.cluster_y * a.cluster_z <= 8 && grid.y % a.cluster_y == 0 &&
                    grid.z % a.cluster_z == 0,
                "{}: cluster of {}x{} blocks (y, z) does not divide the grid's {}x{} (or exceeds 8)", name, a.cluster_y,
                a.cluster_z, grid.y, grid.z);
#if FUSEKIT_VENDOR_CUDA
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = s.get();
  cudaLaunchAttribute attr[2];
  unsigned n = 0;
  if (a.dependent && dependent_launches_enabled(name) && has_sm90_code(reinterpret_cast<const void*>(kernel))) {
    attr[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (a.cluster_y * a.cluster_z > 1) {
    attr[n].id = cudaLaunchAttributeClusterDimension;
    attr[n].val.clusterDim.x = 1;
    attr[n].val.clusterDim.y = a.cluster_y;
    attr[n++].val.clusterDim.z = a.cluster_z;
  }
  cfg.attrs = attr;
  cfg.numAttrs = n;
  FUSEKIT_GPU_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
  FUSEKIT_CHECK_LAUNCH(name);
#else
  FUSEKIT_CHECK(a.cluster_y * a.cluster_z == 1, "{}: thread-block clusters need an NVIDIA sm_90 GPU", name);
  launch(name, kernel, grid, block, smem, s, std::forward<Args>(args)...);
#endif
}

// launch_with(.., {.dependent = true}, ..): see LaunchAttrs.
template <class... KArgs, class... Args>
void launch_dependent(const char* name, void (*kernel)(KArgs...), dim3 grid, dim3 block, std::size_t smem,
                      const Stream& s, Args&&... args) {
  launch_with(name, kernel, grid, block, smem, s, LaunchAttrs{.dependent = true}, std::forward<Args>(args)...);
}

// Blocks for a grid-stride loop over n items: enough to fill the device, never more than needed.
inline unsigned grid_for(index_t n, int block, const Device& d, int blocks_per_sm = 8) {
  const index_t needed = (n + block - 1) / block;
  const index_t cap = static_cast<index_t>(d.multiprocessors) * blocks_per_sm;
  return static_cast<unsigned>(needed < cap ? needed : cap);
}

}  // namespace fusekit::hip
#endif
