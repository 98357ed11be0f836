#pragma once
// TensorView<T, Rank, Space>: a non-owning, strided view. The memory space is part of the type, so a
// device view cannot reach a host op by accident. Element access with operator() is host-only.
#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>

#include "fusekit/core/dtype.hpp"
#include "fusekit/core/error.hpp"
#include "fusekit/core/memory.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, std::size_t Rank, class Space = HostSpace>
class TensorView {
  static_assert(Element<T>, "TensorView: T must be a fusekit element type (float, half, bfloat16, double, "
                            "int32_t, int64_t, uint8_t, uint16_t, bool)");
  static_assert(MemorySpace<Space>, "TensorView: Space must be HostSpace or DeviceSpace");
  static_assert(Rank >= 1, "TensorView: rank must be at least 1");

 public:
  using element_type = T;
  using value_type = std::remove_const_t<T>;
  using space = Space;
  static constexpr std::size_t rank = Rank;

  TensorView() = default;
  FUSEKIT_HOST_DEVICE TensorView(T* data, const Shape<Rank>& shape, const Strides<Rank>& strides)
      : data_(data), shape_(shape), strides_(strides) {}
  TensorView(T* data, const Shape<Rank>& shape) : TensorView(data, shape, row_major_strides(shape)) {}

  // A view of non-const elements converts to a view of const elements.
  template <class U>
    requires(std::is_same_v<const U, T> && !std::is_same_v<U, T>)
  FUSEKIT_HOST_DEVICE TensorView(const TensorView<U, Rank, Space>& o)
      : data_(o.data()), shape_(o.shape()), strides_(o.strides()) {}

  FUSEKIT_HOST_DEVICE T* data() const { return data_; }
  FUSEKIT_HOST_DEVICE const Shape<Rank>& shape() const { return shape_; }
  FUSEKIT_HOST_DEVICE const Strides<Rank>& strides() const { return strides_; }
  FUSEKIT_HOST_DEVICE index_t size(std::size_t dim) const { return shape_[dim]; }
  FUSEKIT_HOST_DEVICE index_t stride(std::size_t dim) const { return strides_[dim]; }
  index_t numel() const { return fusekit::numel(shape_); }
  bool empty() const { return numel() == 0; }
  static constexpr DType dtype() { return dtype_of<T>; }

  bool is_contiguous() const { return strides_ == row_major_strides(shape_) || numel() <= 1; }
  // True when the innermost dimension is dense (stride 1), which vectorised kernels need.
  bool is_inner_contiguous() const { return strides_[Rank - 1] == 1 || shape_[Rank - 1] <= 1; }

  template <class... I>
    requires(sizeof...(I) == Rank)
  FUSEKIT_HOST_DEVICE index_t offset(I... idx) const {
    const index_t ids[] = {static_cast<index_t>(idx)...};
    index_t off = 0;
    for (std::size_t d = 0; d < Rank; ++d) off += ids[d] * strides_[d];
    return off;
  }

  template <class... I>
    requires(sizeof...(I) == Rank && std::is_same_v<Space, HostSpace>)
  T& operator()(I... idx) const {
    return data_[offset(idx...)];
  }

  TensorView view() const { return *this; }
  TensorView<const value_type, Rank, Space> as_const() const { return *this; }

  // Elements [begin, end) of one dimension; the result shares memory.
  TensorView slice(std::size_t dim, index_t begin, index_t end) const {
    FUSEKIT_CHECK(dim < Rank && begin >= 0 && begin <= end && end <= shape_[dim],
                  "slice: range [{}, {}) of dimension {} is outside a tensor of extent {}", begin, end, dim,
                  dim < Rank ? shape_[dim] : -1);
    auto s = shape_;
    s[dim] = end - begin;
    return TensorView(data_ + begin * strides_[dim], s, strides_);
  }

  // Reorders dimensions: result dimension i is this view's dimension perm[i].
  TensorView permute(const std::array<std::size_t, Rank>& perm) const {
    std::array<bool, Rank> seen{};
    Shape<Rank> s{};
    Strides<Rank> st{};
    for (std::size_t i = 0; i < Rank; ++i) {
      FUSEKIT_CHECK(perm[i] < Rank && !seen[perm[i]], "permute: not a permutation of {} dimensions", Rank);
      seen[perm[i]] = true;
      s[i] = shape_[perm[i]];
      st[i] = strides_[perm[i]];
    }
    return TensorView(data_, s, st);
  }

  template <std::size_t R2>
  TensorView<T, R2, Space> reshape(const Shape<R2>& s) const {
    FUSEKIT_CHECK(is_contiguous(), "reshape: the view is not contiguous");
    FUSEKIT_CHECK(fusekit::numel(s) == numel(), "reshape: cannot reshape {} elements into {} elements", numel(),
                  fusekit::numel(s));
    return TensorView<T, R2, Space>(data_, s);
  }

  // Layout of a 4-D (N, C, H, W) view: nchw or nhwc when dense in that order, otherwise strided.
  Layout layout() const {
    if constexpr (Rank == 4) {
      if (strides_ == image_strides(shape_, Layout::nchw)) return Layout::nchw;
      if (strides_ == image_strides(shape_, Layout::nhwc)) return Layout::nhwc;
      return Layout::strided;
    } else {
      return is_contiguous() ? Layout::row_major : Layout::strided;
    }
  }

 private:
  T* data_ = nullptr;
  Shape<Rank> shape_{};
  Strides<Rank> strides_{};
};

template <class T, std::size_t Rank> using HostView = TensorView<T, Rank, HostSpace>;
template <class T, std::size_t Rank> using DeviceView = TensorView<T, Rank, DeviceSpace>;

// A logical (N, C, H, W) view over NCHW or NHWC memory.
template <class Space = HostSpace, class T>
TensorView<T, 4, Space> image_view(T* data, const Shape<4>& nchw, Layout layout) {
  FUSEKIT_CHECK(layout == Layout::nchw || layout == Layout::nhwc, "image_view: layout must be nchw or nhwc");
  return TensorView<T, 4, Space>(data, nchw, image_strides(nchw, layout));
}

// Anything that can give a TensorView: a view itself or an owning Tensor.
template <class X>
concept TensorLike = requires(const X& x) {
  x.view();
  typename std::remove_cvref_t<X>::space;
};

template <class X> using view_t = std::remove_cvref_t<decltype(std::declval<const X&>().view())>;

}  // namespace fusekit
