#pragma once
// What a NormAct launch needs (ops/norm_act.hpp is the front end):
//   out[n, c, h, w] = act(x[n, c, h, w] * scale[c] + bias[c]) * mask[n, 0, h, w]
// Tensors are logical (N, C, H, W) with any strides (NCHW and NHWC memory are two stride patterns).
// The mask is optional (nullptr: every cell on the board). fp32 math, one rounding into out.
#include "fusekit/core/shape.hpp"

namespace fusekit {

template <class T, class W>
struct NormActParams {
  T* out;
  const T* x;
  const T* mask;  // nullptr: no mask
  const W* scale;
  const W* bias;
  Shape<4> shape;  // N, C, H, W
  Strides<4> out_strides, x_strides, mask_strides;
  index_t scale_stride, bias_stride;
};

}  // namespace fusekit
