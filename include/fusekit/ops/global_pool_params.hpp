#pragma once
// What a KataGo global-pooling launch needs (ops/global_pool.hpp is the front end). Over the H x W cells
// of each (n, c), with area = sum of the mask (H * W without a mask) and s = sqrt(area):
//   katago:     out[n] = [mean | mean * (s - 14) / 10 | max]                     (KataGPool)
//   value_head: out[n] = [mean | mean * (s - 14) / 10 | mean * ((s - 14)^2 / 100 - 0.1)]
// mean = sum(x * mask) / area; max is over the cells where mask != 0 only. A board with no cell on it
// (area 0) gives zeros. Each block of the output is C wide: out is [N, 3C].
#include <cmath>

#include "fusekit/core/matrix_ref.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit {

enum class PoolKind { katago, value_head };

template <class T, class O>
struct GlobalPoolParams {
  MatrixRef<O> out;  // [N, 3C]
  const T* x;
  const T* mask;  // nullptr: every cell on the board
  Shape<4> shape;
  Strides<4> x_strides, mask_strides;
  PoolKind kind;
};

// The three pooled values of one channel from its masked sum and max and the board's area.
struct PooledValues {
  float v[3];
};
FUSEKIT_HOST_DEVICE inline PooledValues pooled_values(PoolKind kind, float sum, float max, float area) {
  if (area <= 0.f) return {{0.f, 0.f, 0.f}};
  const float mean = sum / area;
  const float d = sqrtf(area) - 14.f;
  const float third = kind == PoolKind::katago ? max : mean * (d * d / 100.f - 0.1f);
  return {{mean, mean * d / 10.f, third}};
}

}  // namespace fusekit
