#pragma once
// Tensor<T, Rank, Space>: owns its memory (move-only), always contiguous row-major, and hands out
// TensorViews. Copies are explicit: clone() on the host, ops::copy / to_device / to_host across spaces.
#include <cstring>
#include <memory>
#include <type_traits>

#include "fusekit/core/memory.hpp"
#include "fusekit/core/tensor_view.hpp"

namespace fusekit {

// A context that can allocate in a memory space: cpu::Context (host) or hip::Stream (device).
template <class C>
concept AllocatingContext = requires(C& c) {
  { c.memory() } -> std::convertible_to<std::shared_ptr<MemoryResource>>;
  typename C::space;
};

template <class T, std::size_t Rank, class Space = HostSpace>
class Tensor {
  static_assert(!std::is_const_v<T>, "Tensor: the element type of an owning tensor cannot be const");

 public:
  using element_type = T;
  using value_type = T;
  using space = Space;
  static constexpr std::size_t rank = Rank;

  Tensor() = default;

  // Host tensors can allocate without a context.
  explicit Tensor(const Shape<Rank>& shape)
    requires std::is_same_v<Space, HostSpace>
      : Tensor(shape, std::shared_ptr<MemoryResource>(host_memory())) {}

  template <AllocatingContext Ctx>
  Tensor(const Shape<Rank>& shape, Ctx& ctx) : Tensor(shape, ctx.memory()) {
    static_assert(std::is_same_v<typename Ctx::space, Space>,
                  "Tensor: this context allocates in another memory space than the tensor's "
                  "(use a hip::Stream for DeviceSpace tensors and a cpu::Context for HostSpace ones)");
  }

  Tensor(const Shape<Rank>& shape, std::shared_ptr<MemoryResource> resource) : shape_(shape) {
    for (std::size_t i = 0; i < Rank; ++i) FUSEKIT_CHECK(shape[i] >= 0, "Tensor: negative extent in shape");
    FUSEKIT_CHECK(resource->is_device() == (std::is_same_v<Space, DeviceSpace>),
                  "Tensor: memory resource space does not match the tensor's space ({})", Space::name);
    buffer_ = Buffer(std::move(resource), static_cast<std::size_t>(fusekit::numel(shape)) * sizeof(T));
  }

  Tensor(Tensor&&) noexcept = default;
  Tensor& operator=(Tensor&&) noexcept = default;
  Tensor(const Tensor&) = delete;
  Tensor& operator=(const Tensor&) = delete;

  T* data() { return static_cast<T*>(buffer_.data()); }
  const T* data() const { return static_cast<const T*>(buffer_.data()); }
  const Shape<Rank>& shape() const { return shape_; }
  index_t size(std::size_t d) const { return shape_[d]; }
  index_t numel() const { return fusekit::numel(shape_); }
  std::size_t bytes() const { return buffer_.size(); }
  static constexpr DType dtype() { return dtype_of<T>; }
  const std::shared_ptr<MemoryResource>& resource() const { return buffer_.resource(); }

  TensorView<T, Rank, Space> view() { return {data(), shape_}; }
  TensorView<const T, Rank, Space> view() const { return {data(), shape_}; }
  operator TensorView<T, Rank, Space>() { return view(); }
  operator TensorView<const T, Rank, Space>() const { return view(); }

  template <class... I>
    requires(sizeof...(I) == Rank && std::is_same_v<Space, HostSpace>)
  T& operator()(I... idx) {
    return view()(idx...);
  }
  template <class... I>
    requires(sizeof...(I) == Rank && std::is_same_v<Space, HostSpace>)
  const T& operator()(I... idx) const {
    return view()(idx...);
  }

  // Host-only deep copy; device tensors copy through ops::copy on a stream.
  Tensor clone() const
    requires std::is_same_v<Space, HostSpace>
  {
    Tensor t(shape_, buffer_.resource());
    if (bytes()) std::memcpy(t.data(), data(), bytes());
    return t;
  }

 private:
  Shape<Rank> shape_{};
  Buffer buffer_;
};

template <class T, std::size_t Rank> using HostTensor = Tensor<T, Rank, HostSpace>;
template <class T, std::size_t Rank> using DeviceTensor = Tensor<T, Rank, DeviceSpace>;

}  // namespace fusekit
