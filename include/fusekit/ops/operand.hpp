#pragma once
// Operand<T, R>: pointer + strides of one tensor in an elementwise op, with broadcasting expressed as
// stride 0. Shared by the CPU and GPU elementwise engines.
#include "fusekit/core/convert.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, std::size_t R>
struct Operand {
  T* data;
  Strides<R> strides;
};

// Offset of linear (row-major) element i of `shape` in an operand with `strides`.
template <std::size_t R>
FUSEKIT_HOST_DEVICE inline index_t strided_offset(index_t i, const Extents<R>& shape, const Strides<R>& strides) {
  index_t off = 0;
  FUSEKIT_UNROLL
  for (std::size_t k = R; k-- > 0;) {
    const index_t idx = i % shape[k];
    i /= shape[k];
    off += idx * strides[k];
  }
  return off;
}

// out = convert<O>(op(convert<C>(in)...)) at one element.
template <class C, class Op, class O, class... I>
FUSEKIT_HOST_DEVICE inline void apply_at(const Op& op, O* out, const I*... in) {
  *out = convert<O>(op(convert<C>(*in)...));
}

}  // namespace fusekit
