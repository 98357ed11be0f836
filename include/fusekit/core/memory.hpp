#pragma once
// Memory spaces, memory resources and the owning byte buffer that tensors sit on.
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

#include "fusekit/core/error.hpp"

namespace fusekit {

// Memory spaces are types: a TensorView<T, R, DeviceSpace> cannot be passed where host data is needed.
struct HostSpace {
  static constexpr const char* name = "host";
};
struct DeviceSpace {
  static constexpr const char* name = "device";
};

template <class S>
concept MemorySpace = std::is_same_v<S, HostSpace> || std::is_same_v<S, DeviceSpace>;

// Where a buffer's bytes come from. Implementations: HostMemory (aligned new/delete) and
// hip::CachingAllocator (device, stream-ordered cache).
class MemoryResource {
 public:
  virtual ~MemoryResource() = default;
  virtual void* allocate(std::size_t bytes) = 0;
  virtual void deallocate(void* p, std::size_t bytes) noexcept = 0;
  virtual bool is_device() const noexcept = 0;
};

// 64-byte aligned host memory; counts allocations so tests can prove a forward pass allocates nothing.
class HostMemory final : public MemoryResource {
 public:
  static constexpr std::size_t alignment = 64;

  void* allocate(std::size_t bytes) override {
    if (bytes == 0) return nullptr;
    void* p = ::operator new(bytes, std::align_val_t{alignment}, std::nothrow);
    if (!p) fail("host allocation of {} bytes failed", bytes);
    allocations_.fetch_add(1, std::memory_order_relaxed);
    return p;
  }
  void deallocate(void* p, std::size_t) noexcept override {
    if (p) ::operator delete(p, std::align_val_t{alignment});
  }
  bool is_device() const noexcept override { return false; }
  std::size_t allocation_count() const noexcept { return allocations_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::size_t> allocations_{0};
};

inline const std::shared_ptr<HostMemory>& host_memory() {
  static const std::shared_ptr<HostMemory> instance = std::make_shared<HostMemory>();
  return instance;
}

// An owning, move-only run of bytes from a resource. The resource is kept alive by the buffer.
class Buffer {
 public:
  Buffer() = default;
  Buffer(std::shared_ptr<MemoryResource> resource, std::size_t bytes)
      : resource_(std::move(resource)), bytes_(bytes), data_(resource_->allocate(bytes)) {}
  Buffer(Buffer&& o) noexcept
      : resource_(std::move(o.resource_)), bytes_(std::exchange(o.bytes_, 0)), data_(std::exchange(o.data_, nullptr)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    if (this != &o) {
      release();
      resource_ = std::move(o.resource_);
      bytes_ = std::exchange(o.bytes_, 0);
      data_ = std::exchange(o.data_, nullptr);
    }
    return *this;
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  ~Buffer() { release(); }

  void* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return bytes_; }
  const std::shared_ptr<MemoryResource>& resource() const noexcept { return resource_; }

 private:
  void release() noexcept {
    if (data_) resource_->deallocate(data_, bytes_);
    data_ = nullptr;
    bytes_ = 0;
  }
  std::shared_ptr<MemoryResource> resource_;
  std::size_t bytes_ = 0;
  void* data_ = nullptr;
};

}  // namespace fusekit
