#pragma once
// LayerNorm over the last axis of [rows, cols] tensors, with weight and bias (math in ops/norm_params.hpp):
//   layernorm(ctx, out, x, weight, bias, opts)
//   layernorm(ctx, out, residual_out, x, residual, weight, bias, opts)   // s = x + residual; out = LN(s)
// Same dtype, stride and aliasing rules as rmsnorm; the variance is computed two-pass (from x - mean).
#include "fusekit/ops/row_norm.hpp"

namespace fusekit {

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike W, TensorLike B>
void layernorm(Ctx& ctx, Out&& out, const X& x, const W& weight, const B& bias, const LayerNormOptions& opt = {}) {
  const auto bv = bias.view().as_const();
  const auto wv = weight.view().as_const();
  detail::row_norm<op::LayerNorm>("layernorm", ctx, out.view(), x.view().as_const(), detail::none, detail::none, &wv,
                                  &bv, opt.eps, 0.f, {opt.path, opt.block});
}

template <Context Ctx, TensorLike Out, TensorLike ResOut, TensorLike X, TensorLike Res, TensorLike W, TensorLike B>
void layernorm(Ctx& ctx, Out&& out, ResOut&& residual_out, const X& x, const Res& residual, const W& weight,
               const B& bias, const LayerNormOptions& opt = {}) {
  const auto ro = residual_out.view();
  const auto rv = residual.view().as_const();
  const auto bv = bias.view().as_const();
  const auto wv = weight.view().as_const();
  detail::row_norm<op::LayerNorm>("layernorm", ctx, out.view(), x.view().as_const(), &rv, &ro, &wv, &bv, opt.eps, 0.f,
                                  {opt.path, opt.block});
}

}  // namespace fusekit
