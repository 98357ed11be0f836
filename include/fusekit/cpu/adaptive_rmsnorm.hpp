#pragma once
// CPU adaptive RMSNorm: rows split across the context's threads, fp32 statistics.
#include <cmath>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/adaptive_rmsnorm_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::AdaptiveRmsNorm, CpuBackend> {
  template <class T, class M>
  static void run(const cpu::Context& ctx, const AdaptiveRmsNormParams<T, M>& p) {
    ctx.parallel_for(p.batch * p.tokens, 4, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const index_t b = r / p.tokens, t = r % p.tokens;
        const T* x = p.x + b * p.x_strides[0] + t * p.x_strides[1];
        T* o = p.out + b * p.out_strides[0] + t * p.out_strides[1];
        float ss = 0.f;
        for (index_t c = 0; c < p.cols; ++c) {
          const float v = to_float(x[c * p.x_strides[2]]);
          ss += v * v;
        }
        const float s = 1.f / std::sqrt(ss / static_cast<float>(p.cols) + p.eps);
        for (index_t c = 0; c < p.cols; ++c)
          o[c * p.out_strides[2]] = convert<T>(to_float(x[c * p.x_strides[2]]) * s * (1.f + to_float(p.scale(b, c))) +
                                               to_float(p.shift(b, c)));
      }
    });
  }
};

}  // namespace fusekit
