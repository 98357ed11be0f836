#pragma once
// Parameters of adaptive_rmsnorm(): for row t of batch entry b,
//   out[b, t, c] = round_T(x[b, t, c] / sqrt(mean_c(x[b, t, :]^2) + eps) * (1 + scale[b, c]) + shift[b, c])
// with fp32 statistics and math (x, scale and shift read as fp32).
#include "fusekit/core/matrix_ref.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, class M>
struct AdaptiveRmsNormParams {
  T* out;
  const T* x;
  Strides<3> out_strides, x_strides;
  MatrixRef<const M> scale, shift;  // [B, cols]
  index_t batch, tokens, cols;
  float eps;
};

}  // namespace fusekit
