#pragma once
// Adaptive RMSNorm (pi0.5-style experts, conditioned on the flow-matching time):
//   adaptive_rmsnorm(ctx, out, x, scale, shift, opts)
//   out[b, t, :] = rmsnorm(x[b, t, :]) * (1 + scale[b, :]) + shift[b, :]
// x, out: [B, T, cols] in one float dtype; scale, shift: [B, cols] in any one float dtype, typically column
// ranges of the modulation GEMM's output [B, 3 cols] = [scale | shift | gate]. The gate goes into the
// sublayer's output GEMM as epi::gated_residual(x, gate). fp32 statistics; any strides; out may be x.
#include "fusekit/cpu/adaptive_rmsnorm.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/norm_params.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/adaptive_rmsnorm.hpp"
#endif

namespace fusekit {

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike Scale, TensorLike Shift>
void adaptive_rmsnorm(Ctx& ctx, Out&& out, const X& x, const Scale& scale, const Shift& shift, const RmsNormOptions& opt = {}) {
  const auto o = out.view();
  const auto xv = x.view().as_const();
  const auto sc = scale.view().as_const();
  const auto sh = shift.view().as_const();
  using T = typename decltype(xv)::value_type;
  using M = typename decltype(sc)::value_type;
  static_assert(FloatStorage<T> && FloatStorage<M>, "adaptive_rmsnorm: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename decltype(o)::element_type, T>, "adaptive_rmsnorm: out must have x's dtype");
  static_assert(std::is_same_v<typename decltype(sh)::value_type, M>, "adaptive_rmsnorm: scale and shift share a dtype");
  static_assert(decltype(o)::rank == 3 && decltype(xv)::rank == 3 && decltype(sc)::rank == 2 && decltype(sh)::rank == 2,
                "adaptive_rmsnorm: x and out are [B, T, cols], scale and shift [B, cols]");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(xv)>();
  detail::require_space<Ctx, decltype(sc)>();
  detail::require_space<Ctx, decltype(sh)>();
  FUSEKIT_CHECK(o.shape() == xv.shape(), "adaptive_rmsnorm: out {} and x {} differ in shape ({})", o.shape(), xv.shape(),
                dtype_of<T>);
  const Shape<2> want{xv.size(0), xv.size(2)};
  FUSEKIT_CHECK(sc.shape() == want && sh.shape() == want, "adaptive_rmsnorm: scale {} and shift {} must be [B, cols] = {}",
                sc.shape(), sh.shape(), want);
  FUSEKIT_CHECK(xv.size(2) > 0 || xv.empty(), "adaptive_rmsnorm: x {} has no columns", xv.shape());
  FUSEKIT_CHECK(opt.eps >= 0.f, "adaptive_rmsnorm: eps must be >= 0 (got {})", opt.eps);
  if (xv.empty()) return;
  const AdaptiveRmsNormParams<T, M> p{o.data(), xv.data(), o.strides(), xv.strides(),
                                      {sc.data(), sc.stride(0), sc.stride(1)}, {sh.data(), sh.stride(0), sh.stride(1)},
                                      xv.size(0), xv.size(1), xv.size(2), opt.eps};
  OpImpl<op::AdaptiveRmsNorm, backend_of<Ctx>>::run(ctx, p);
}

}  // namespace fusekit
