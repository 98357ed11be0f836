#pragma once
// KataGo's NormAct (a folded batch norm, an activation and the board mask), one pass over the tensor:
//   norm_act(ctx, out, x, scale, bias, act::Mish{})
//   norm_act(ctx, out, x, scale, bias, mask, act::Mish{})
//     out[n, c, h, w] = act(x * scale[c] + bias[c]) * mask[n, 0, h, w]
// x and out are logical (N, C, H, W) views: NCHW or NHWC memory (image_view), or any strides; out may
// alias x. mask is (N, 1, H, W) with x's dtype (1 on the board, 0 off it; other values scale). scale and
// bias are [C] in f32, f16 or bf16. Math in fp32, one rounding into out. An activation that gives
// +-Inf times a zero mask gives NaN, as the multiplication does in KataGo.
#include "fusekit/cpu/norm_act.hpp"
#include "fusekit/ops/activation_functors.hpp"
#include "fusekit/ops/board_mask.hpp"
#include "fusekit/ops/elementwise.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/norm_act.hpp"
#endif

namespace fusekit {

namespace detail {
template <class Ctx, class O, class X, class S, class B, class M, class Act>
void norm_act_impl(Ctx& ctx, const O& o, const X& x, const S& scale, const B& bias, const M* mask, const Act& f) {
  using T = typename X::value_type;
  using W = typename S::value_type;
  static_assert(O::rank == 4 && X::rank == 4, "norm_act: x and out must be rank-4 logical (N, C, H, W) views");
  static_assert(S::rank == 1 && B::rank == 1, "norm_act: scale and bias must be rank-1 [C] views");
  static_assert(FloatStorage<T> && FloatStorage<W>, "norm_act: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename O::element_type, T>, "norm_act: out must have x's dtype and not be const");
  static_assert(std::is_same_v<typename B::value_type, W>, "norm_act: bias must have scale's dtype");
  require_space<Ctx, O>();
  require_space<Ctx, X>();
  require_space<Ctx, S>();
  require_space<Ctx, B>();
  FUSEKIT_CHECK(o.shape() == x.shape(), "norm_act: out has shape {} but x has shape {} ({})", o.shape(), x.shape(),
                dtype_of<T>);
  FUSEKIT_CHECK(scale.size(0) == x.size(1) && bias.size(0) == x.size(1),
                "norm_act: scale {} and bias {} must have x's {} channels (x shape {}, {})", scale.shape(), bias.shape(),
                x.size(1), x.shape(), dtype_of<T>);
  NormActParams<T, W> p{o.data(),     x.data(),      nullptr,         scale.data(), bias.data(),
                        x.shape(),    o.strides(),   x.strides(),     {},           scale.stride(0),
                        bias.stride(0)};
  if constexpr (!std::is_same_v<M, std::nullptr_t>) {
    static_assert(M::rank == 4 && std::is_same_v<typename M::value_type, T>,
                  "norm_act: mask must be a rank-4 (N, 1, H, W) view with x's dtype");
    require_space<Ctx, M>();
    check_board_mask("norm_act", *mask, x);
    p.mask = mask->data();
    p.mask_strides = mask->strides();
  }
  if (x.empty()) return;
  OpImpl<op::NormAct, backend_of<Ctx>>::run(ctx, p, f);
}
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike S, TensorLike B, class Act>
void norm_act(Ctx& ctx, Out&& out, const X& x, const S& scale, const B& bias, const Act& f) {
  detail::norm_act_impl(ctx, out.view(), x.view().as_const(), scale.view().as_const(), bias.view().as_const(),
                        detail::none, f);
}

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike S, TensorLike B, TensorLike M, class Act>
void norm_act(Ctx& ctx, Out&& out, const X& x, const S& scale, const B& bias, const M& mask, const Act& f) {
  const auto mv = mask.view().as_const();
  detail::norm_act_impl(ctx, out.view(), x.view().as_const(), scale.view().as_const(), bias.view().as_const(), &mv, f);
}

}  // namespace fusekit
