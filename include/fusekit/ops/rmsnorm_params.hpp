#pragma once
// What an RMSNorm launch needs, shared by the front end (ops/rmsnorm.hpp) and the backends.
//   y = x * rsqrt(mean(x^2) + eps) * w          (unit_offset = false)
//   y = x * rsqrt(mean(x^2) + eps) * (1 + w)    (unit_offset = true: Gemma)
// With a residual: s = round(x + r) is stored to residual_out and normalised in place of x (so the fused
// op equals add followed by rmsnorm). Statistics and scaling are fp32; y is rounded once.
#include "fusekit/core/matrix_ref.hpp"

namespace fusekit {

// Which GPU kernel runs. automatic follows the policy in kernels/rmsnorm.hpp; the others force a kernel,
// for tests and benchmarks that must exercise a specific path (and fail with an Error where that kernel
// cannot take the shape).
enum class KernelPath { automatic, vectorized, generic };

struct RmsNormOptions {
  float eps = 1e-6f;
  bool unit_offset = false;
  KernelPath path = KernelPath::automatic;
  int block = 0;  // GPU threads per row (128/256/512/1024); 0: the policy's choice. For benchmarks/tests.
};

template <class T, class W>
struct RmsNormParams {
  MatrixRef<T> out;
  MatrixRef<const T> x;
  MatrixRef<const T> residual;  // data == nullptr: no residual
  MatrixRef<T> residual_out;
  const W* weight;
  index_t weight_stride;
  index_t rows, cols;
  float eps;
  float weight_offset;  // 0 or 1
};

}  // namespace fusekit
