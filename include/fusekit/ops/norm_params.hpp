#pragma once
// What a row-normalisation launch needs, shared by the front ends (ops/rmsnorm.hpp, ops/layernorm.hpp)
// and the backends (cpu/norm.hpp, kernels/norm.hpp).
//   RMSNorm:   y = x * rsqrt(mean(x^2) + eps) * (w + offset)        offset 0, or 1 for Gemma's (1 + w)
//   LayerNorm: y = (x - mean(x)) * rsqrt(var(x) + eps) * w + b      var = mean((x - mean)^2), two-pass
// With a residual: s = round_T(float(x) + float(r)) is stored to residual_out and normalised in place of
// x (so the fused op equals add followed by the norm). Statistics and scaling are fp32 (double on the
// CPU); y is rounded once.
#include "fusekit/core/matrix_ref.hpp"

namespace fusekit {

// Which GPU kernel runs. automatic follows the policy in kernels/norm.hpp; the others force a kernel,
// for tests and benchmarks that must exercise a specific path (and fail with an Error where that kernel
// cannot take the shape).
enum class KernelPath { automatic, vectorized, generic };

struct RmsNormOptions {
  float eps = 1e-6f;
  bool unit_offset = false;
  KernelPath path = KernelPath::automatic;
  int block = 0;  // GPU threads per row (128/256/512/1024); 0: the policy's choice. For benchmarks/tests.
};

struct LayerNormOptions {
  float eps = 1e-6f;  // SigLIP's; PyTorch's nn.LayerNorm default is 1e-5
  KernelPath path = KernelPath::automatic;
  int block = 0;
};

// The kernel-choice part of the options, all a backend needs besides the parameters.
struct KernelChoice {
  KernelPath path = KernelPath::automatic;
  int block = 0;
};

template <class T, class W>
struct NormParams {
  MatrixRef<T> out;
  MatrixRef<const T> x;
  MatrixRef<const T> residual;  // data == nullptr: no residual
  MatrixRef<T> residual_out;
  const W* weight;
  index_t weight_stride;
  const W* bias;  // LayerNorm only
  index_t bias_stride;
  index_t rows, cols;
  float eps;
  float weight_offset;  // 0 or 1
};

}  // namespace fusekit
