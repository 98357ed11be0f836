#pragma once
// CPU RMSNorm: one row per task, sum of squares in double, the same rounding points as the GPU.
#include <cmath>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/rmsnorm_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::RmsNorm, CpuBackend> {
  template <class T, class W>
  static void run(const cpu::Context& ctx, const RmsNormParams<T, W>& p, const RmsNormOptions&) {
    const index_t grain = std::max<index_t>(1, (1 << 15) / std::max<index_t>(p.cols, 1));
    ctx.parallel_for(p.rows, grain, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        double ss = 0;
        for (index_t c = 0; c < p.cols; ++c) {
          float v = to_float(p.x(r, c));
          if (p.residual.data) {
            const T s = convert<T>(v + to_float(p.residual(r, c)));
            p.residual_out(r, c) = s;
            v = to_float(s);
          }
          ss += static_cast<double>(v) * v;
        }
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(p.cols) + p.eps));
        for (index_t c = 0; c < p.cols; ++c) {
          const float v = to_float(p.residual.data ? static_cast<T>(p.residual_out(r, c)) : p.x(r, c));
          const float w = to_float(p.weight[c * p.weight_stride]) + p.weight_offset;
          p.out(r, c) = convert<T>(v * scale * w);
        }
      }
    });
  }
};

}  // namespace fusekit
