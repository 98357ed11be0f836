#pragma once
// Float64 reference for softmax / log-softmax over the last axis of [rows, cols] (semantics in
// ops/softmax_params.hpp). mask_value(r, c) returns the additive term (-Inf for a masked element).
#include <cmath>
#include <limits>

#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

template <class T, class MaskValue>
HostTensor<double, 2> softmax(const HostView<const T, 2>& x, double scale, bool log, MaskValue mask_value) {
  const index_t rows = x.size(0), cols = x.size(1);
  const double inf = std::numeric_limits<double>::infinity();
  HostTensor<double, 2> y({rows, cols});
  for (index_t r = 0; r < rows; ++r) {
    double m = -inf;
    bool nan = false;
    for (index_t c = 0; c < cols; ++c) {
      const double z = static_cast<double>(x(r, c)) * scale + mask_value(r, c);
      nan |= std::isnan(z);
      m = std::max(m, z);
    }
    if (nan) {
      for (index_t c = 0; c < cols; ++c) y(r, c) = std::numeric_limits<double>::quiet_NaN();
      continue;
    }
    if (m == -inf) {  // fully masked
      for (index_t c = 0; c < cols; ++c) y(r, c) = log ? -inf : 0.0;
      continue;
    }
    double sum = 0;
    for (index_t c = 0; c < cols; ++c) sum += std::exp(static_cast<double>(x(r, c)) * scale + mask_value(r, c) - m);
    for (index_t c = 0; c < cols; ++c) {
      const double z = static_cast<double>(x(r, c)) * scale + mask_value(r, c) - m;
      y(r, c) = log ? z - std::log(sum) : std::exp(z) / sum;
    }
  }
  return y;
}

}  // namespace fusekit::reference
