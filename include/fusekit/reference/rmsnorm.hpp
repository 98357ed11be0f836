#pragma once
// Naive float64 references for RMSNorm (host views in, double tensors out).
#include <cmath>
#include <utility>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

// y[r, c] = x[r, c] / sqrt(mean_c(x[r, :]^2) + eps) * (w[c] + offset), all in double.
template <class T, class W>
HostTensor<double, 2> rmsnorm(const HostView<const T, 2>& x, const HostView<const W, 1>& w, double eps,
                              bool unit_offset) {
  const index_t rows = x.size(0), cols = x.size(1);
  HostTensor<double, 2> y({rows, cols});
  for (index_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (index_t c = 0; c < cols; ++c) ss += static_cast<double>(x(r, c)) * static_cast<double>(x(r, c));
    const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
    for (index_t c = 0; c < cols; ++c)
      y(r, c) = static_cast<double>(x(r, c)) * inv * (static_cast<double>(w(c)) + (unit_offset ? 1.0 : 0.0));
  }
  return y;
}

// The residual form: s = round_T(float(x) + float(r)) (the stored sum, exactly as the op defines it:
// one fp32 addition, one rounding), then rmsnorm(s) in double. Returns {y, s}.
template <class T, class W>
std::pair<HostTensor<double, 2>, HostTensor<T, 2>> rmsnorm_residual(const HostView<const T, 2>& x,
                                                                    const HostView<const T, 2>& res,
                                                                    const HostView<const W, 1>& w, double eps,
                                                                    bool unit_offset) {
  HostTensor<T, 2> s(x.shape());
  for (index_t r = 0; r < x.size(0); ++r)
    for (index_t c = 0; c < x.size(1); ++c)
      s(r, c) = convert<T>(to_float(x(r, c)) + to_float(res(r, c)));
  auto y = rmsnorm<T, W>(s.view(), w, eps, unit_offset);
  return {std::move(y), std::move(s)};
}

}  // namespace fusekit::reference
