#pragma once
// Float64 references for the activation functions, written from their definitions, with the limits at
// +-Inf documented in ops/activation_functors.hpp.
#include <algorithm>
#include <cmath>

namespace fusekit::reference::act {

inline double softplus(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return std::max(x, 0.0) + std::log1p(std::exp(-std::fabs(x)));
}
inline double identity(double x) { return x; }
inline double relu(double x) { return std::isnan(x) ? x : (x > 0 ? x : 0.0); }
inline double gelu_erf(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}
inline double gelu_tanh(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return 0.5 * x * (1.0 + std::tanh(0.79788456080286535588 * (x + 0.044715 * x * x * x)));
}
inline double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double silu(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return x * sigmoid(x);
}
inline double tanh(double x) { return std::tanh(x); }
inline double mish(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return x * std::tanh(softplus(x));
}
inline double mish_scale8(double x) {
  if (std::isinf(x)) return x > 0 ? x : 0.0;
  return x * std::tanh(softplus(8.0 * x));
}

}  // namespace fusekit::reference::act
