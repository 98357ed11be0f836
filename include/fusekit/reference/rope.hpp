#pragma once
// Float64 reference for RoPE on one [tokens, heads, head_dim] tensor (semantics in ops/rope_params.hpp):
// the fp32 angle as the op defines it, then cos/sin and the rotation in double.
#include <cmath>

#include "fusekit/core/tensor.hpp"
#include "fusekit/ops/rope_params.hpp"

namespace fusekit::reference {

template <class T, class P>
HostTensor<double, 3> rope(const HostView<const T, 3>& x, const HostView<const P, 1>& positions, double base,
                           RopeLayout layout, index_t rotary_dim) {
  const index_t D = x.size(2);
  if (rotary_dim == 0) rotary_dim = D;
  HostTensor<double, 3> y(x.shape());
  for (index_t t = 0; t < x.size(0); ++t)
    for (index_t h = 0; h < x.size(1); ++h) {
      for (index_t d = 0; d < D; ++d) y(t, h, d) = static_cast<double>(x(t, h, d));
      for (index_t j = 0; j < rotary_dim / 2; ++j) {
        const float angle = static_cast<float>(positions(t)) * rope_inv_freq(base, j, rotary_dim);
        const double c = std::cos(static_cast<double>(angle)), s = std::sin(static_cast<double>(angle));
        const RopePair p = rope_pair(j, rotary_dim, layout, true);
        const double a = static_cast<double>(x(t, h, p.a)), b = static_cast<double>(x(t, h, p.b));
        y(t, h, p.a) = a * c - b * s;
        y(t, h, p.b) = b * c + a * s;
      }
    }
  return y;
}

}  // namespace fusekit::reference
