#pragma once
// Device memory with a cache: freed blocks go back to per-size free lists and are handed out again
// without a runtime call. The cache is bound to one stream: a block freed by work on that stream can be
// reused by later work on it in stream order, with no synchronisation. Using a tensor from this cache
// on another stream needs an event between the streams.
#include <cstddef>
#include <map>
#include <mutex>
#include <vector>

#include "fusekit/backend/hip/check.hpp"
#include "fusekit/core/memory.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

struct AllocatorStats {
  std::size_t bytes_in_use = 0;     // handed out and not yet freed
  std::size_t bytes_cached = 0;     // freed, kept for reuse
  std::size_t device_allocations = 0;  // runtime malloc calls (cache misses)
  std::size_t cache_hits = 0;
};

class CachingAllocator final : public MemoryResource {
 public:
  explicit CachingAllocator(gpu::stream_t stream) : stream_(stream) {}
  ~CachingAllocator() override { release_cached_noexcept(); }

  // Size classes: multiples of 512 bytes up to 1 MiB, then quarter steps of a power of two, so that a
  // block is reused for requests at most 25% smaller.
  static std::size_t size_class(std::size_t bytes) {
    constexpr std::size_t small = 512, large = std::size_t{1} << 20;
    if (bytes <= large) return (bytes + small - 1) / small * small;
    std::size_t p = large;
    while (p * 2 < bytes) p *= 2;
    const std::size_t step = p / 4;
    return (bytes + step - 1) / step * step;
  }

  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    const std::size_t cls = size_class(bytes);
    std::lock_guard lock(mutex_);
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      stats_.bytes_cached -= cls;
      stats_.bytes_in_use += cls;
      ++stats_.cache_hits;
      return p;
    }
    bool capturing = false;
    FUSEKIT_GPU_CHECK(gpu::stream_is_capturing(stream_, &capturing));
    if (capturing)
      fail("device allocation of {} bytes during graph capture: plan buffers (BufferPlan/Arena) or allocate "
           "tensors before capturing",
           bytes);
    void* p = nullptr;
    gpu::error_t e = gpu::malloc_device(&p, cls);
    if (e == gpu::error_out_of_memory) {  // give the cache back and try once more
      (void)gpu::get_last_error();
      release_cached_locked();
      e = gpu::malloc_device(&p, cls);
    }
    if (e != gpu::success) {
      (void)gpu::get_last_error();  // leave no sticky error behind: the allocator stays usable
      std::size_t free_b = 0, total_b = 0;
      (void)gpu::mem_get_info(&free_b, &total_b);
      fail("device out of memory allocating {} bytes ({}): {} bytes in use by this allocator, {} free of {} on "
           "the device",
           bytes, gpu::error_name(e), stats_.bytes_in_use, free_b, total_b);
    }
    ++stats_.device_allocations;
    stats_.bytes_in_use += cls;
    return p;
  }

  void deallocate(void* p, std::size_t bytes) noexcept override {
    if (!p) return;
    const std::size_t cls = size_class(bytes);
    std::lock_guard lock(mutex_);
    free_[cls].push_back(p);
    stats_.bytes_in_use -= cls;
    stats_.bytes_cached += cls;
  }

  bool is_device() const noexcept override { return true; }

  // Returns every cached block to the runtime (waits for the stream first).
  void release_cached() {
    std::lock_guard lock(mutex_);
    release_cached_locked();
  }

  AllocatorStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  void release_cached_locked() {
    FUSEKIT_GPU_CHECK(gpu::stream_synchronize(stream_));
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) FUSEKIT_GPU_CHECK(gpu::free_device(p));
    free_.clear();
    stats_.bytes_cached = 0;
  }
  void release_cached_noexcept() noexcept {
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) (void)gpu::free_device(p);
    free_.clear();
  }

  gpu::stream_t stream_;
  mutable std::mutex mutex_;
  std::map<std::size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

}  // namespace fusekit::hip
#endif
