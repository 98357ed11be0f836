#pragma once
// CPU global pooling: one (n, c) plane per step, double accumulation.
#include <limits>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/global_pool_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

template <>
struct OpImpl<op::GlobalPool, CpuBackend> {
  template <class T, class O>
  static void run(const cpu::Context& ctx, const GlobalPoolParams<T, O>& p) {
    const index_t N = p.shape[0], C = p.shape[1], H = p.shape[2], W = p.shape[3];
    const auto& xs = p.x_strides;
    const auto& ms = p.mask_strides;
    auto mask_at = [&](index_t n, index_t h, index_t w) {
      return p.mask ? to_float(p.mask[n * ms[0] + h * ms[2] + w * ms[3]]) : 1.f;
    };
    ctx.parallel_for(N * C, std::max<index_t>(1, (1 << 14) / std::max<index_t>(H * W, 1)), [&](index_t b, index_t e) {
      for (index_t nc = b; nc < e; ++nc) {
        const index_t n = nc / C, c = nc % C;
        double area = 0, sum = 0;
        float mx = -std::numeric_limits<float>::infinity();
        for (index_t h = 0; h < H; ++h)
          for (index_t w = 0; w < W; ++w) {
            const float m = mask_at(n, h, w);
            const float v = to_float(p.x[n * xs[0] + c * xs[1] + h * xs[2] + w * xs[3]]);
            area += m;
            sum += static_cast<double>(v) * m;
            if (m != 0.f) mx = nan_max(mx, v);
          }
        const PooledValues r = pooled_values(p.kind, static_cast<float>(sum), mx, static_cast<float>(area));
        for (int k = 0; k < 3; ++k) p.out(n, k * C + c) = convert<O>(r.v[k]);
      }
    });
  }
};

}  // namespace fusekit
