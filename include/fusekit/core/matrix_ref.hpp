#pragma once
// MatrixRef<T>: the (pointer, row stride, column stride) triple that kernels take instead of a view.
// Trivially copyable, so it can be a kernel argument; built from a rank-2 TensorView.
#include "fusekit/core/tensor_view.hpp"

namespace fusekit {

template <class T>
struct MatrixRef {
  T* data;
  index_t row_stride;
  index_t col_stride;

  FUSEKIT_HOST_DEVICE T& operator()(index_t r, index_t c) const { return data[r * row_stride + c * col_stride]; }
  FUSEKIT_HOST_DEVICE T* row(index_t r) const { return data + r * row_stride; }
};

template <class T, class S>
MatrixRef<T> matrix_ref(const TensorView<T, 2, S>& v) {
  return {v.data(), v.stride(0), v.stride(1)};
}

}  // namespace fusekit
