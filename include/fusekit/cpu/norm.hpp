#pragma once
// CPU RMSNorm and LayerNorm: one row per task, statistics in double, the same rounding points as the GPU.
#include <cmath>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/norm_params.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

namespace cpu {
template <bool kLayer>
struct RowNorm {
  template <class T, class W>
  static void run(const Context& ctx, const NormParams<T, W>& p, KernelChoice) {
    const index_t grain = std::max<index_t>(1, (1 << 15) / std::max<index_t>(p.cols, 1));
    ctx.parallel_for(p.rows, grain, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        // the row's values: x, or the stored (rounded) sum x + residual
        auto value = [&](index_t c) {
          return to_float(p.residual.data ? static_cast<T>(p.residual_out(r, c)) : p.x(r, c));
        };
        // pass 1: the residual sum (stored), and the sum (LayerNorm) or sum of squares (RMSNorm)
        double sum = 0, ss = 0;
        for (index_t c = 0; c < p.cols; ++c) {
          float v = to_float(p.x(r, c));
          if (p.residual.data) {
            const T s = convert<T>(v + to_float(p.residual(r, c)));
            p.residual_out(r, c) = s;
            v = to_float(s);
          }
          if constexpr (kLayer) sum += v;
          else ss += static_cast<double>(v) * v;
        }
        double mean = 0;
        if constexpr (kLayer) {  // pass 2 (LayerNorm): variance from x - mean, no cancellation
          mean = sum / static_cast<double>(p.cols);
          for (index_t c = 0; c < p.cols; ++c) {
            const double d = value(c) - mean;
            ss += d * d;
          }
        }
        const float scale = static_cast<float>(1.0 / std::sqrt(ss / static_cast<double>(p.cols) + p.eps));
        const float m = static_cast<float>(mean);
        for (index_t c = 0; c < p.cols; ++c) {
          const float w = p.weight ? to_float(p.weight[c * p.weight_stride]) + p.weight_offset : 1.f;
          float y = (value(c) - m) * scale * w;
          if constexpr (kLayer) y += to_float(p.bias[c * p.bias_stride]);
          p.out(r, c) = convert<T>(y);
        }
      }
    });
  }
};
}  // namespace cpu

template <>
struct OpImpl<op::RmsNorm, CpuBackend> : cpu::RowNorm<false> {};
template <>
struct OpImpl<op::LayerNorm, CpuBackend> : cpu::RowNorm<true> {};

}  // namespace fusekit
