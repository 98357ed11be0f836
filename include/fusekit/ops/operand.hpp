#pragma once
// Operand<T, R>: one tensor of an elementwise op: pointer, strides (broadcasting = stride 0) and, when the
// operand can be read as rows (inner dimension dense, leading dimensions collapsing into one), the
// stride between rows. Shared by the CPU and GPU elementwise engines.
#include "fusekit/core/convert.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, std::size_t R>
struct Operand {
  T* data;
  Strides<R> strides;
  index_t row_stride;  // valid when the op runs in rows mode
};

// How an elementwise op walks its elements. rows mode: every operand is [rows, cols] with a dense inner
// dimension (cols = the last extent), so kernels index (row, col) and vectorise along col; strided mode:
// anything else (unravel the row-major index per element).
struct ElementwiseLayout {
  bool rows_mode;
  index_t rows, cols;
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

// If `strides` over `shape` read as rows of the last extent, returns true and the row stride.
template <std::size_t R>
bool as_rows(const Extents<R>& shape, const Strides<R>& strides, index_t& row_stride) {
  if (shape[R - 1] > 1 && strides[R - 1] != 1) return false;
  if constexpr (R == 1) {
    row_stride = shape[0];
    return true;
  } else {
    // dimensions 0..R-2 must collapse into one: stride[d] == stride[d + 1] * shape[d + 1] (extent-1 dims free)
    index_t inner = -1;  // stride of the innermost leading dimension with extent > 1
    index_t expect = 0;
    for (std::size_t d = R - 1; d-- > 0;) {
      if (shape[d] == 1) continue;
      if (inner < 0) {
        inner = strides[d];
        expect = strides[d] * shape[d];
      } else {
        if (strides[d] != expect) return false;
        expect = strides[d] * shape[d];
      }
    }
    row_stride = inner < 0 ? shape[R - 1] : inner;
    return true;
  }
}

// out = convert<O>(op(convert<C>(in)...)) at one element.
template <class C, class Op, class O, class... I>
FUSEKIT_HOST_DEVICE inline void apply_at(const Op& op, O* out, const I*... in) {
  *out = convert<O>(op(convert<C>(*in)...));
}

}  // namespace fusekit
