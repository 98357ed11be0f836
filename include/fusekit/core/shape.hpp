#pragma once
// Shapes and strides (in elements), row-major helpers, and the two 4-D image layouts.
// A 4-D image tensor always has the logical order (N, C, H, W); NCHW vs NHWC is only a choice of strides.
#include <array>
#include <cstddef>
#include <cstdint>

#include "fusekit/config.hpp"

namespace fusekit {

using index_t = std::int64_t;

// A fixed number of extents (or strides): an aggregate (Shape<2> s{788, 2048}) usable in device code.
// Deliberately not a range (no begin/end), so that its fmt formatter is not ambiguous with fmt/ranges.h.
template <std::size_t Rank>
struct Extents {
  index_t e[Rank];
  FUSEKIT_HOST_DEVICE constexpr index_t& operator[](std::size_t i) { return e[i]; }
  FUSEKIT_HOST_DEVICE constexpr const index_t& operator[](std::size_t i) const { return e[i]; }
  static constexpr std::size_t size() { return Rank; }
  friend constexpr bool operator==(const Extents&, const Extents&) = default;
};

template <std::size_t Rank> using Shape = Extents<Rank>;
template <std::size_t Rank> using Strides = Extents<Rank>;

template <std::size_t Rank>
constexpr index_t numel(const Shape<Rank>& s) {
  index_t n = 1;
  for (std::size_t i = 0; i < Rank; ++i) n *= s[i];
  return n;
}

template <std::size_t Rank>
constexpr Strides<Rank> row_major_strides(const Shape<Rank>& s) {
  Strides<Rank> st{};
  index_t acc = 1;
  for (std::size_t i = Rank; i-- > 0;) {
    st[i] = acc;
    acc *= s[i];
  }
  return st;
}

enum class Layout : std::uint8_t { row_major, nchw, nhwc, strided };

// Strides for a logical (N, C, H, W) shape stored as NCHW or NHWC.
constexpr Strides<4> image_strides(const Shape<4>& nchw, Layout layout) {
  const index_t c = nchw[1], h = nchw[2], w = nchw[3];
  if (layout == Layout::nhwc) return {h * w * c, 1, w * c, c};
  return {c * h * w, h * w, w, 1};
}

}  // namespace fusekit
