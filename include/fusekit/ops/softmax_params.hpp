#pragma once
// What a softmax launch needs (ops/softmax.hpp is the front end). Rows are the leading dimensions of a
// rank-R tensor (any strides: a row's offset is unravelled from its index), columns the last axis.
//   z = x * scale + mask (additive mask, f32/f16/bf16), or z = x * scale where mask != 0 and -Inf where
//   mask == 0 (boolean mask, bool/uint8); no mask: z = x * scale.
//   softmax:     y = exp(z - max z) / sum exp(z - max z)
//   log_softmax: y = z - max z - log(sum exp(z - max z))
// A row whose every z is -Inf (fully masked) gives y = 0 (softmax) and y = -Inf (log_softmax).
#include <cstdint>
#include <limits>
#include <type_traits>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, std::size_t L>  // L = number of leading (row) dimensions
struct RowOperand {
  T* data;
  Strides<L> lead;  // strides of the leading dimensions
  index_t col;      // stride of the last axis (0 for a mask broadcast along it)

  // r < the product of shape, so the outermost index needs no modulo (one row dimension: no division).
  FUSEKIT_HOST_DEVICE T* row(index_t r, const Extents<L>& shape) const {
    index_t off = 0;
    FUSEKIT_UNROLL
    for (std::size_t k = L; k-- > 1;) {
      off += (r % shape[k]) * lead[k];
      r /= shape[k];
    }
    return data + off + r * lead[0];
  }

  // Every row starts on a kVec-element boundary and the row is dense (vector loads are safe).
  bool vectorizable(int vec, const Extents<L>& shape) const {
    if (col != 1 || reinterpret_cast<std::uintptr_t>(data) % (sizeof(T) * vec) != 0) return false;
    for (std::size_t k = 0; k < L; ++k)
      if (shape[k] > 1 && lead[k] % vec != 0) return false;
    return true;
  }
};

template <class M>
inline constexpr bool is_boolean_mask = std::is_same_v<std::remove_const_t<M>, bool> ||
                                        std::is_same_v<std::remove_const_t<M>, std::uint8_t>;

template <class T, class M, std::size_t L>
struct SoftmaxParams {
  RowOperand<T, L> out;
  RowOperand<const T, L> x;
  RowOperand<const M, L> mask;  // data == nullptr: no mask
  Extents<L> lead_shape;
  index_t rows, cols;
  float scale;
  bool log;
  int threads_per_row = 0;  // GPU: forces one warp (the warp size), 256 or 1024 threads per row; 0: the policy

  // z of one element (the masked, scaled logit).
  FUSEKIT_HOST_DEVICE float logit(const T* xr, const M* mr, index_t c) const {
    return mr ? masked(xr[c * x.col], mr[c * mask.col]) : to_float(xr[c * x.col]) * scale;
  }
  FUSEKIT_HOST_DEVICE float masked(T xv, M mv) const {
    const float v = to_float(xv) * scale;
    if constexpr (is_boolean_mask<M>) return mv ? v : -std::numeric_limits<float>::infinity();
    else return v + to_float(mv);
  }
};

}  // namespace fusekit
