#pragma once
// Float64 reference for KataGo's global pooling (semantics in ops/global_pool_params.hpp).
#include <cmath>
#include <limits>

#include "fusekit/core/tensor.hpp"
#include "fusekit/ops/global_pool_params.hpp"

namespace fusekit::reference {

template <class T>
HostTensor<double, 2> global_pool(const HostView<const T, 4>& x, const HostView<const T, 4>* mask, PoolKind kind) {
  const index_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  HostTensor<double, 2> y({N, 3 * C});
  for (index_t n = 0; n < N; ++n) {
    double area = 0;
    for (index_t h = 0; h < H; ++h)
      for (index_t w = 0; w < W; ++w) area += mask ? static_cast<double>((*mask)(n, 0, h, w)) : 1.0;
    const double s = std::sqrt(area);
    for (index_t c = 0; c < C; ++c) {
      double sum = 0, mx = -std::numeric_limits<double>::infinity();
      for (index_t h = 0; h < H; ++h)
        for (index_t w = 0; w < W; ++w) {
          const double m = mask ? static_cast<double>((*mask)(n, 0, h, w)) : 1.0;
          const double v = static_cast<double>(x(n, c, h, w));
          sum += v * m;
          if (m != 0) mx = std::max(mx, v);
        }
      const double mean = area > 0 ? sum / area : 0.0;
      y(n, c) = mean;
      y(n, C + c) = area > 0 ? mean * (s - 14) / 10 : 0.0;
      y(n, 2 * C + c) = area <= 0 ? 0.0 : kind == PoolKind::katago ? mx : mean * ((s - 14) * (s - 14) / 100 - 0.1);
    }
  }
  return y;
}

}  // namespace fusekit::reference
