#pragma once
// Host <-> device transfers on a stream. Both sides must be contiguous and have the same dtype and shape
// (cast with copy() on one side first). to_device() and to_host() wait for the stream; copy_async()
// does not.
#include "fusekit/backend/hip/stream.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace detail {
template <class D, class S>
void check_transfer(const char* op, const D& dst, const S& src) {
  using DT = typename D::value_type;
  using ST = typename S::value_type;
  static_assert(std::is_same_v<DT, ST>, "transfer: source and destination must have the same dtype (cast first)");
  static_assert(D::rank == S::rank, "transfer: source and destination must have the same rank");
  FUSEKIT_CHECK(dst.shape() == src.shape(), "{}: destination shape {} differs from source shape {} ({})", op,
                dst.shape(), src.shape(), dtype_of<DT>);
  FUSEKIT_CHECK(dst.is_contiguous() && src.is_contiguous(),
                "{}: transfers need contiguous tensors (source {} strides {}, destination strides {}); copy() "
                "into a contiguous tensor first",
                op, src.shape(), src.strides(), dst.strides());
}
}  // namespace detail

// Enqueues a copy between any two spaces (host->device, device->host, device->device).
template <TensorLike Dst, TensorLike Src>
void copy_async(const hip::Stream& s, Dst&& dst, const Src& src) {
  auto d = dst.view();
  auto v = src.view().as_const();
  using DV = decltype(d);
  using SV = decltype(v);
  detail::check_transfer("copy_async", d, v);
  const std::size_t bytes = static_cast<std::size_t>(v.numel()) * sizeof(typename SV::value_type);
  if (bytes == 0) return;
  constexpr bool dd = std::is_same_v<typename DV::space, DeviceSpace>;
  constexpr bool sd = std::is_same_v<typename SV::space, DeviceSpace>;
  if constexpr (dd && sd) FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(d.data(), v.data(), bytes, s.get()));
  else if constexpr (dd) FUSEKIT_GPU_CHECK(gpu::memcpy_h2d_async(d.data(), v.data(), bytes, s.get()));
  else if constexpr (sd) FUSEKIT_GPU_CHECK(gpu::memcpy_d2h_async(d.data(), v.data(), bytes, s.get()));
  else static_assert(dd || sd, "copy_async: host to host copies use copy(cpu::Context, ...)");
}

// A new device tensor holding a copy of host data. Waits for the copy, so the source may be a
// temporary (use copy_async to overlap transfers with work: then the host memory must outlive the copy).
template <TensorLike Src>
auto to_device(hip::Stream& s, const Src& src) {
  auto v = src.view().as_const();
  using V = decltype(v);
  static_assert(std::is_same_v<typename V::space, HostSpace>, "to_device: the source is already on the device");
  Tensor<typename V::value_type, V::rank, DeviceSpace> t(v.shape(), s);
  copy_async(s, t, v);
  s.synchronize();
  return t;
}

// A new host tensor holding a copy of device data; waits for the stream.
template <TensorLike Src>
auto to_host(hip::Stream& s, const Src& src) {
  auto v = src.view().as_const();
  using V = decltype(v);
  static_assert(std::is_same_v<typename V::space, DeviceSpace>, "to_host: the source is already on the host");
  Tensor<typename V::value_type, V::rank, HostSpace> t(v.shape());
  copy_async(s, t, v);
  s.synchronize();
  return t;
}

}  // namespace fusekit
#endif
