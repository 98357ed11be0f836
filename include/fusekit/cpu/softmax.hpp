#pragma once
// CPU softmax / log-softmax: one row per task; the row's logits in a float buffer, the sum in double.
#include <cmath>
#include <limits>
#include <vector>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/ops/softmax_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::Softmax, CpuBackend> {
  template <class T, class M, std::size_t L>
  static void run(const cpu::Context& ctx, const SoftmaxParams<T, M, L>& p) {
    const float inf = std::numeric_limits<float>::infinity();
    ctx.parallel_for(p.rows, std::max<index_t>(1, (1 << 14) / p.cols), [&](index_t r0, index_t r1) {
      std::vector<float> z(static_cast<std::size_t>(p.cols));
      for (index_t r = r0; r < r1; ++r) {
        const T* xr = p.x.row(r, p.lead_shape);
        const M* mr = p.mask.data ? p.mask.row(r, p.lead_shape) : nullptr;
        T* out = p.out.row(r, p.lead_shape);
        float m = -inf;
        for (index_t c = 0; c < p.cols; ++c) {
          z[c] = p.logit(xr, mr, c);
          m = nan_max(m, z[c]);
        }
        if (m == -inf) {  // fully masked
          for (index_t c = 0; c < p.cols; ++c) out[c * p.out.col] = convert<T>(p.log ? -inf : 0.f);
          continue;
        }
        double sum = 0;
        for (index_t c = 0; c < p.cols; ++c) sum += std::exp(static_cast<double>(z[c] - m));
        const float inv = static_cast<float>(1.0 / sum), log_sum = static_cast<float>(std::log(sum));
        for (index_t c = 0; c < p.cols; ++c)
          out[c * p.out.col] = convert<T>(p.log ? (z[c] - m) - log_sum : std::exp(z[c] - m) * inv);
      }
    });
  }
};

}  // namespace fusekit
