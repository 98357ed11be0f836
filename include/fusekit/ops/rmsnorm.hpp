#pragma once
// RMSNorm over the last axis of [rows, cols] tensors (math in ops/norm_params.hpp).
//   rmsnorm(ctx, out, x, weight, opts)
//   rmsnorm(ctx, out, x, opts)                                   // no weight (factor 1)
//   rmsnorm(ctx, out, residual_out, x, residual, weight, opts)   // s = x + residual; residual_out = s;
//                                                                // out = rmsnorm(s)
// x, residual, out and residual_out share one storage dtype (f32, f16, bf16); weight may be any of the
// three. Any strides; out may alias x and residual_out may alias x or residual (exactly, not partially).
#include "fusekit/ops/row_norm.hpp"

namespace fusekit {

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike W>
void rmsnorm(Ctx& ctx, Out&& out, const X& x, const W& weight, const RmsNormOptions& opt = {}) {
  const auto wv = weight.view().as_const();
  detail::row_norm<op::RmsNorm>("rmsnorm", ctx, out.view(), x.view().as_const(), detail::none, detail::none, &wv,
                                detail::none, opt.eps, opt.unit_offset ? 1.f : 0.f, {opt.path, opt.block});
}

// Without a weight: out = x * rsqrt(mean(x^2) + eps) (a weight folded into the next layer, or none).
template <Context Ctx, TensorLike Out, TensorLike X>
void rmsnorm(Ctx& ctx, Out&& out, const X& x, const RmsNormOptions& opt) {
  FUSEKIT_CHECK(!opt.unit_offset, "rmsnorm: unit_offset needs a weight (without one the factor is 1)");
  detail::row_norm<op::RmsNorm>("rmsnorm", ctx, out.view(), x.view().as_const(), detail::none, detail::none,
                                detail::none, detail::none, opt.eps, 0.f, {opt.path, opt.block});
}

template <Context Ctx, TensorLike Out, TensorLike ResOut, TensorLike X, TensorLike Res, TensorLike W>
void rmsnorm(Ctx& ctx, Out&& out, ResOut&& residual_out, const X& x, const Res& residual, const W& weight,
             const RmsNormOptions& opt = {}) {
  const auto ro = residual_out.view();
  const auto rv = residual.view().as_const();
  const auto wv = weight.view().as_const();
  detail::row_norm<op::RmsNorm>("rmsnorm", ctx, out.view(), x.view().as_const(), &rv, &ro, &wv, detail::none, opt.eps,
                                opt.unit_offset ? 1.f : 0.f, {opt.path, opt.block});
}

}  // namespace fusekit
