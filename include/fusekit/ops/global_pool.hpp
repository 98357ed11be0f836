#pragma once
// KataGo's global pooling over H x W (semantics in ops/global_pool_params.hpp):
//   global_pool(ctx, out, x, mask, PoolKind::katago)       out [N, 3C] = [mean | scaled mean | max]
//   global_pool(ctx, out, x, mask, PoolKind::value_head)   out [N, 3C] = [mean | scaled mean | quadratic]
//   global_pool(ctx, out, x, kind)                         every cell on the board
// x is a logical (N, C, H, W) view (NCHW, NHWC or any strides); mask (N, 1, H, W) with x's dtype; out a
// rank-2 [N, 3C] view of any float dtype. fp32 accumulation.
#include "fusekit/cpu/global_pool.hpp"
#include "fusekit/ops/board_mask.hpp"
#include "fusekit/ops/elementwise.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/global_pool.hpp"
#endif

namespace fusekit {

namespace detail {
template <class Ctx, class O, class X, class M>
void global_pool_impl(Ctx& ctx, const O& o, const X& x, const M* mask, PoolKind kind) {
  using T = typename X::value_type;
  using OT = typename O::element_type;
  static_assert(X::rank == 4 && O::rank == 2, "global_pool: x must be rank-4 (N, C, H, W) and out rank-2 [N, 3C]");
  static_assert(FloatStorage<T> && FloatStorage<OT> && !std::is_const_v<OT>,
                "global_pool: supported dtypes are f32, f16 and bf16 (and out must not be const)");
  require_space<Ctx, O>();
  require_space<Ctx, X>();
  FUSEKIT_CHECK(o.size(0) == x.size(0) && o.size(1) == 3 * x.size(1),
                "global_pool: out has shape {} but x of shape {} ({}) pools into [{}, {}]", o.shape(), x.shape(),
                dtype_of<T>, x.size(0), 3 * x.size(1));
  GlobalPoolParams<T, OT> p{matrix_ref(o), x.data(), nullptr, x.shape(), x.strides(), {}, kind};
  if constexpr (!std::is_same_v<M, std::nullptr_t>) {
    static_assert(M::rank == 4 && std::is_same_v<typename M::value_type, T>,
                  "global_pool: mask must be a rank-4 (N, 1, H, W) view with x's dtype");
    require_space<Ctx, M>();
    check_board_mask("global_pool", *mask, x);
    p.mask = mask->data();
    p.mask_strides = mask->strides();
  }
  if (o.empty()) return;
  OpImpl<op::GlobalPool, backend_of<Ctx>>::run(ctx, p);
}
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike M>
void global_pool(Ctx& ctx, Out&& out, const X& x, const M& mask, PoolKind kind) {
  const auto mv = mask.view().as_const();
  detail::global_pool_impl(ctx, out.view(), x.view().as_const(), &mv, kind);
}

template <Context Ctx, TensorLike Out, TensorLike X>
void global_pool(Ctx& ctx, Out&& out, const X& x, PoolKind kind) {
  detail::global_pool_impl(ctx, out.view(), x.view().as_const(), detail::none, kind);
}

}  // namespace fusekit
