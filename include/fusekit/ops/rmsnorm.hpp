#pragma once
// RMSNorm over the last axis of [rows, cols] tensors (see ops/rmsnorm_params.hpp for the math).
//   rmsnorm(ctx, out, x, weight, opts)
//   rmsnorm(ctx, out, residual_out, x, residual, weight, opts)   // s = x + residual; residual_out = s;
//                                                                // out = rmsnorm(s)
// x, residual, out and residual_out share one storage dtype (f32, f16, bf16); weight may be any of the
// three. Any strides; out may alias x and residual_out may alias x or residual (exactly, not partially).
#include "fusekit/core/format.hpp"
#include "fusekit/cpu/rmsnorm.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/rmsnorm_params.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/rmsnorm.hpp"
#endif

namespace fusekit {

namespace detail {

template <class Ctx, class O, class X, class R, class RO, class W>
void rmsnorm_checked(Ctx& ctx, const O& o, const X& x, const R* r, const RO* ro, const W& w, const RmsNormOptions& opt) {
  using T = typename X::value_type;
  using WT = typename W::value_type;
  static_assert(X::rank == 2 && O::rank == 2, "rmsnorm: x and out must be rank-2 [rows, cols] views (reshape first)");
  static_assert(W::rank == 1, "rmsnorm: weight must be a rank-1 [cols] view");
  static_assert(FloatStorage<T> && FloatStorage<WT>, "rmsnorm: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename O::element_type, T>, "rmsnorm: out must have x's dtype and not be const");
  require_space<Ctx, O>();
  require_space<Ctx, X>();
  require_space<Ctx, W>();
  FUSEKIT_CHECK(o.shape() == x.shape(), "rmsnorm: out has shape {} but x has shape {} ({})", o.shape(), x.shape(),
                dtype_of<T>);
  FUSEKIT_CHECK(w.size(0) == x.size(1), "rmsnorm: weight has shape {} but x has {} columns (x shape {}, {})",
                w.shape(), x.size(1), x.shape(), dtype_of<T>);
  FUSEKIT_CHECK(x.size(1) > 0 || x.size(0) == 0, "rmsnorm: x has shape {}: rows need at least one column", x.shape());
  FUSEKIT_CHECK(opt.eps >= 0.f, "rmsnorm: eps must be >= 0 (got {})", opt.eps);
  RmsNormParams<T, WT> p{matrix_ref(o),
                         matrix_ref(x),
                         {nullptr, 0, 0},
                         {nullptr, 0, 0},
                         w.data(),
                         w.stride(0),
                         x.size(0),
                         x.size(1),
                         opt.eps,
                         opt.unit_offset ? 1.f : 0.f};
  if constexpr (!std::is_same_v<R, std::nullptr_t>) {
    static_assert(std::is_same_v<typename R::value_type, T> && std::is_same_v<typename RO::element_type, T>,
                  "rmsnorm: residual and residual_out must have x's dtype (and residual_out not be const)");
    require_space<Ctx, R>();
    require_space<Ctx, RO>();
    FUSEKIT_CHECK(r->shape() == x.shape() && ro->shape() == x.shape(),
                  "rmsnorm: residual {} and residual_out {} must have x's shape {} ({})", r->shape(), ro->shape(),
                  x.shape(), dtype_of<T>);
    p.residual = matrix_ref(*r);
    p.residual_out = matrix_ref(*ro);
  }
  if (x.size(0) == 0) return;
  OpImpl<op::RmsNorm, backend_of<Ctx>>::run(ctx, p, opt);
}

}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike W>
void rmsnorm(Ctx& ctx, Out&& out, const X& x, const W& weight, const RmsNormOptions& opt = {}) {
  const auto o = out.view();
  const auto xv = x.view().as_const();
  const auto wv = weight.view().as_const();
  detail::rmsnorm_checked(ctx, o, xv, static_cast<const std::nullptr_t*>(nullptr),
                          static_cast<const std::nullptr_t*>(nullptr), wv, opt);
}

template <Context Ctx, TensorLike Out, TensorLike ResOut, TensorLike X, TensorLike Res, TensorLike W>
void rmsnorm(Ctx& ctx, Out&& out, ResOut&& residual_out, const X& x, const Res& residual, const W& weight,
             const RmsNormOptions& opt = {}) {
  const auto o = out.view();
  const auto ro = residual_out.view();
  const auto xv = x.view().as_const();
  const auto rv = residual.view().as_const();
  const auto wv = weight.view().as_const();
  detail::rmsnorm_checked(ctx, o, xv, &rv, &ro, wv, opt);
}

}  // namespace fusekit
