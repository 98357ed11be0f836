#pragma once
// hip::Stream: the GPU backend's context. Ops take it to pick the GPU implementation; it owns a
// non-blocking runtime stream and the caching allocator bound to it. hip::Event times work on it.
#include <memory>

#include "fusekit/backend/hip/arch_check.hpp"
#include "fusekit/backend/hip/caching_allocator.hpp"
#include "fusekit/backend/hip/device.hpp"
#include "fusekit/core/backend.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::hip {

class Stream {
 public:
  using backend = HipBackend;
  using space = DeviceSpace;

  Stream() : device_(Device::current()) {
    require_code_for_current_device();
    FUSEKIT_GPU_CHECK(gpu::stream_create(&stream_));
    allocator_ = std::make_shared<CachingAllocator>(stream_);
  }
  ~Stream() {
    if (stream_) {
      (void)gpu::stream_synchronize(stream_);
      for (int i = 0; i < workspace_slots; ++i)
        if (workspace_[i]) allocator_->deallocate(workspace_[i], workspace_bytes_[i]);
      allocator_.reset();  // tensors still alive keep the allocator; their blocks are freed with it
      (void)gpu::stream_destroy(stream_);
    }
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  gpu::stream_t get() const { return stream_; }
  void synchronize() const { FUSEKIT_GPU_CHECK(gpu::stream_synchronize(stream_)); }
  bool capturing() const {
    bool c = false;
    FUSEKIT_GPU_CHECK(gpu::stream_is_capturing(stream_, &c));
    return c;
  }
  const Device& device() const { return device_; }
  std::shared_ptr<MemoryResource> memory() const { return allocator_; }
  CachingAllocator& allocator() const { return *allocator_; }

  // Scratch device memory for ops that need some, at least `bytes`, zeroed when it grows. Slots are
  // independent, so one op can use several: slot 0 holds GEMM split-K partial sums, slot 1 a
  // convolution's prologue'd input, slot 2 attention's split-key partial rows, slot 3 the split-K tile
  // counters (every op leaves them back at zero, and nothing else is written there). It grows only
  // outside graph capture: run a captured op once before capturing it (the allocator says so otherwise).
  static constexpr int workspace_slots = 4;
  void* workspace(std::size_t bytes, int slot = 0) const {
    FUSEKIT_CHECK(slot >= 0 && slot < workspace_slots, "Stream::workspace: slot {} does not exist", slot);
    void*& ws = workspace_[slot];
    std::size_t& size = workspace_bytes_[slot];
    if (bytes > size) {
      if (ws) allocator_->deallocate(ws, size);  // stream-ordered reuse
      ws = nullptr;
      size = 0;
      ws = allocator_->allocate(bytes);
      size = bytes;
      FUSEKIT_GPU_CHECK(gpu::memset_async(ws, 0, bytes, stream_));
    }
    return ws;
  }

 private:
  Device device_;
  gpu::stream_t stream_ = nullptr;
  std::shared_ptr<CachingAllocator> allocator_;
  mutable void* workspace_[workspace_slots] = {};
  mutable std::size_t workspace_bytes_[workspace_slots] = {};
};

class Event {
 public:
  Event() { FUSEKIT_GPU_CHECK(gpu::event_create(&event_)); }
  ~Event() { (void)gpu::event_destroy(event_); }
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  void record(const Stream& s) { FUSEKIT_GPU_CHECK(gpu::event_record(event_, s.get())); }
  void synchronize() const { FUSEKIT_GPU_CHECK(gpu::event_synchronize(event_)); }
  // Makes later work on `s` wait for this event (cross-stream ordering).
  void wait_on(const Stream& s) const { FUSEKIT_GPU_CHECK(gpu::stream_wait_event(s.get(), event_)); }
  gpu::event_t get() const { return event_; }

  // Milliseconds between two recorded events (both must have completed).
  static float elapsed_ms(const Event& start, const Event& stop) {
    float ms = 0;
    FUSEKIT_GPU_CHECK(gpu::event_elapsed_ms(&ms, start.event_, stop.event_));
    return ms;
  }

 private:
  gpu::event_t event_ = nullptr;
};

}  // namespace fusekit::hip
#endif
