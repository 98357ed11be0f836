#pragma once
// GPU adaptive RMSNorm: one block of 256 threads per row, strided loads, block-wide sum of squares.
// (Modulated rows are few in pi0.5-style experts: 11 suffix tokens per step; this is not a bandwidth path.)
#include "fusekit/backend/hip/block_reduce.hpp"
#include "fusekit/backend/hip/launch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/core/convert.hpp"
#include "fusekit/ops/adaptive_rmsnorm_params.hpp"
#include "fusekit/ops/tags.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

namespace kernels {
inline constexpr int adaptive_norm_block = 256;

template <class T, class M>
FUSEKIT_GLOBAL void __launch_bounds__(adaptive_norm_block) adaptive_rmsnorm_rows(AdaptiveRmsNormParams<T, M> p) {
  gpu::wait_for_prior_grid();  // launched dependent: nothing before this touches memory
  gpu::allow_dependent_launch();
  const index_t b = blockIdx.x / p.tokens, t = blockIdx.x % p.tokens;
  const T* x = p.x + b * p.x_strides[0] + t * p.x_strides[1];
  T* o = p.out + b * p.out_strides[0] + t * p.out_strides[1];
  float ss = 0.f;
  for (index_t c = threadIdx.x; c < p.cols; c += adaptive_norm_block) {
    const float v = to_float(x[c * p.x_strides[2]]);
    ss += v * v;
  }
  const float s = rsqrtf(gpu::BlockSum<adaptive_norm_block>::all(ss, 0) / static_cast<float>(p.cols) + p.eps);
  for (index_t c = threadIdx.x; c < p.cols; c += adaptive_norm_block)
    o[c * p.out_strides[2]] =
        convert<T>(to_float(x[c * p.x_strides[2]]) * s * (1.f + to_float(p.scale(b, c))) + to_float(p.shift(b, c)));
}
}  // namespace kernels

template <>
struct OpImpl<op::AdaptiveRmsNorm, HipBackend> {
  template <class T, class M>
  static void run(const hip::Stream& s, const AdaptiveRmsNormParams<T, M>& p) {
    const index_t rows = p.batch * p.tokens;
    FUSEKIT_CHECK(rows <= index_t{0x7fffffff}, "adaptive_rmsnorm: {} rows exceed the grid limit", rows);
    hip::launch_dependent("adaptive_rmsnorm", kernels::adaptive_rmsnorm_rows<T, M>, dim3(static_cast<unsigned>(rows)),
                dim3(kernels::adaptive_norm_block), 0, s, p);
  }
};

}  // namespace fusekit
#endif
