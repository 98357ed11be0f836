#pragma once
// Naive float64 references for RMSNorm and LayerNorm (host views in, double tensors out).
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

// The stored residual sum of the fused forms: s = round_T(float(x) + float(r)).
template <class T>
HostTensor<T, 2> residual_sum(const HostView<const T, 2>& x, const HostView<const T, 2>& res) {
  HostTensor<T, 2> s(x.shape());
  for (index_t r = 0; r < x.size(0); ++r)
    for (index_t c = 0; c < x.size(1); ++c) s(r, c) = convert<T>(to_float(x(r, c)) + to_float(res(r, c)));
  return s;
}

// The residual form: s = round_T(float(x) + float(r)) (the stored sum, exactly as the op defines it:
// one fp32 addition, one rounding), then rmsnorm(s) in double. Returns {y, s}.
template <class T, class W>
std::pair<HostTensor<double, 2>, HostTensor<T, 2>> rmsnorm_residual(const HostView<const T, 2>& x,
                                                                    const HostView<const T, 2>& res,
                                                                    const HostView<const W, 1>& w, double eps,
                                                                    bool unit_offset) {
  auto s = residual_sum<T>(x, res);
  auto y = rmsnorm<T, W>(s.view(), w, eps, unit_offset);
  return {std::move(y), std::move(s)};
}

// y[r, c] = (x[r, c] - mean) / sqrt(var + eps) * w[c] + b[c], var = mean((x - mean)^2), all in double.
template <class T, class W>
HostTensor<double, 2> layernorm(const HostView<const T, 2>& x, const HostView<const W, 1>& w,
                                const HostView<const W, 1>& b, double eps) {
  const index_t rows = x.size(0), cols = x.size(1);
  HostTensor<double, 2> y({rows, cols});
  for (index_t r = 0; r < rows; ++r) {
    double mean = 0;
    for (index_t c = 0; c < cols; ++c) mean += static_cast<double>(x(r, c));
    mean /= static_cast<double>(cols);
    double var = 0;
    for (index_t c = 0; c < cols; ++c) var += (static_cast<double>(x(r, c)) - mean) * (static_cast<double>(x(r, c)) - mean);
    const double inv = 1.0 / std::sqrt(var / static_cast<double>(cols) + eps);
    for (index_t c = 0; c < cols; ++c)
      y(r, c) = (static_cast<double>(x(r, c)) - mean) * inv * static_cast<double>(w(c)) + static_cast<double>(b(c));
  }
  return y;
}

}  // namespace fusekit::reference
