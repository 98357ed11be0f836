#pragma once
// The checks and dispatch shared by the row normalisations (rmsnorm, layernorm): rank, dtype and space
// checks with a sentence, shape checks naming the tensors, then OpImpl<Tag, backend>.
#include "fusekit/core/format.hpp"
#include "fusekit/cpu/norm.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/norm_params.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/norm.hpp"
#endif

namespace fusekit::detail {

// r/ro: residual and residual_out views, or nullptr_t pointers for none; w: weight view, or nullptr_t
// (RMSNorm without a weight: the factor is 1); b: bias view or nullptr_t.
template <class W, class T>
struct norm_weight_type {
  using type = typename W::value_type;
};
template <class T>
struct norm_weight_type<std::nullptr_t, T> {
  using type = T;
};

template <class Tag, class Ctx, class O, class X, class R, class RO, class W, class B>
void row_norm(const char* name, Ctx& ctx, const O& o, const X& x, const R* r, const RO* ro, const W* w, const B* b,
              float eps, float weight_offset, KernelChoice choice) {
  using T = typename X::value_type;
  using WT = typename norm_weight_type<W, T>::type;
  static_assert(X::rank == 2 && O::rank == 2, "norm: x and out must be rank-2 [rows, cols] views (reshape first)");
  static_assert(FloatStorage<T> && FloatStorage<WT>, "norm: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename O::element_type, T>, "norm: out must have x's dtype and not be const");
  require_space<Ctx, O>();
  require_space<Ctx, X>();
  FUSEKIT_CHECK(o.shape() == x.shape(), "{}: out has shape {} but x has shape {} ({})", name, o.shape(), x.shape(),
                dtype_of<T>);
  FUSEKIT_CHECK(x.size(1) > 0 || x.size(0) == 0, "{}: x has shape {}: rows need at least one column", name, x.shape());
  FUSEKIT_CHECK(eps >= 0.f, "{}: eps must be >= 0 (got {})", name, eps);
  NormParams<T, WT> p{matrix_ref(o), matrix_ref(x), {nullptr, 0, 0}, {nullptr, 0, 0}, nullptr, 0, nullptr, 0,
                      x.size(0),     x.size(1),     eps,             weight_offset};
  if constexpr (!std::is_same_v<W, std::nullptr_t>) {
    static_assert(W::rank == 1, "norm: weight (and bias) must be rank-1 [cols] views");
    require_space<Ctx, W>();
    FUSEKIT_CHECK(w->size(0) == x.size(1), "{}: weight has shape {} but x has {} columns (x shape {}, {})", name,
                  w->shape(), x.size(1), x.shape(), dtype_of<T>);
    p.weight = w->data();
    p.weight_stride = w->stride(0);
  }
  if constexpr (!std::is_same_v<B, std::nullptr_t>) {
    static_assert(std::is_same_v<typename B::value_type, WT> && B::rank == 1, "norm: bias must have weight's dtype");
    require_space<Ctx, B>();
    FUSEKIT_CHECK(b->size(0) == x.size(1), "{}: bias has shape {} but x has {} columns", name, b->shape(), x.size(1));
    p.bias = b->data();
    p.bias_stride = b->stride(0);
  }
  if constexpr (!std::is_same_v<R, std::nullptr_t>) {
    static_assert(std::is_same_v<typename R::value_type, T> && std::is_same_v<typename RO::element_type, T>,
                  "norm: residual and residual_out must have x's dtype (and residual_out not be const)");
    require_space<Ctx, R>();
    require_space<Ctx, RO>();
    FUSEKIT_CHECK(r->shape() == x.shape() && ro->shape() == x.shape(),
                  "{}: residual {} and residual_out {} must have x's shape {} ({})", name, r->shape(), ro->shape(),
                  x.shape(), dtype_of<T>);
    p.residual = matrix_ref(*r);
    p.residual_out = matrix_ref(*ro);
  }
  if (x.size(0) == 0) return;
  OpImpl<Tag, backend_of<Ctx>>::run(ctx, p, choice);
}

}  // namespace fusekit::detail
