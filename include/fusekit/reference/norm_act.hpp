#pragma once
// Float64 reference for NormAct: y = act(x * scale[c] + bias[c]) * mask[n, 0, h, w].
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

// mask may be null (no mask). x and mask are logical (N, C, H, W) / (N, 1, H, W) views.
template <class T, class W>
HostTensor<double, 4> norm_act(const HostView<const T, 4>& x, const HostView<const W, 1>& scale,
                               const HostView<const W, 1>& bias, const HostView<const T, 4>* mask,
                               double (*act)(double)) {
  HostTensor<double, 4> y(x.shape());
  for (index_t n = 0; n < x.size(0); ++n)
    for (index_t c = 0; c < x.size(1); ++c)
      for (index_t h = 0; h < x.size(2); ++h)
        for (index_t w = 0; w < x.size(3); ++w) {
          const double v = static_cast<double>(x(n, c, h, w)) * static_cast<double>(scale(c)) + static_cast<double>(bias(c));
          const double m = mask ? static_cast<double>((*mask)(n, 0, h, w)) : 1.0;
          y(n, c, h, w) = act(v) * m;
        }
  return y;
}

}  // namespace fusekit::reference
