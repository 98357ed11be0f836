#pragma once
// Softmax and log-softmax over the last axis (semantics, masks and fully masked rows in
// ops/softmax_params.hpp):
//   softmax(ctx, out, x, opts)           softmax(ctx, out, x, mask, opts)
//   log_softmax(ctx, out, x, opts)       log_softmax(ctx, out, x, mask, opts)
// x and out: any rank, any strides, same shape and dtype (f32/f16/bf16); out may alias x. mask: same rank,
// broadcast to x's shape (an attention mask [B, 1, Q, K] for scores [B, H, Q, K]); an f32/f16/bf16 mask
// is added to the scaled logits, a bool/uint8 mask keeps the elements where it is nonzero.
#include "fusekit/cpu/softmax.hpp"
#include "fusekit/ops/elementwise.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/softmax.hpp"
#endif

namespace fusekit {

struct SoftmaxOptions {
  float scale = 1.0f;  // multiplies x first (attention's 1/sqrt(d))
  bool log = false;    // log-softmax
  int threads_per_row = 0;  // GPU: force a warp (its size), 256 or 1024 threads per row. For benchmarks/tests.
};

namespace detail {
template <class M> struct mask_value_type { using type = typename M::value_type; };
template <> struct mask_value_type<std::nullptr_t> { using type = float; };  // unused: no mask

template <std::size_t R, class T, class S>
RowOperand<T, R - 1> row_operand(const TensorView<T, R, S>& v) {
  RowOperand<T, R - 1> r{v.data(), {}, v.stride(R - 1)};
  for (std::size_t d = 0; d + 1 < R; ++d) r.lead[d] = v.stride(d);
  return r;
}

template <class Ctx, class O, class X, class M>
void softmax_impl(const char* name, Ctx& ctx, const O& o, const X& x, const M* mask, SoftmaxOptions opt) {
  using T = typename X::value_type;
  constexpr std::size_t R = X::rank;
  static_assert(O::rank == R, "softmax: out and x must have the same rank");
  static_assert(FloatStorage<T>, "softmax: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename O::element_type, T>, "softmax: out must have x's dtype and not be const");
  require_space<Ctx, O>();
  require_space<Ctx, X>();
  FUSEKIT_CHECK(o.shape() == x.shape(), "{}: out has shape {} but x has shape {} ({})", name, o.shape(), x.shape(),
                dtype_of<T>);
  if constexpr (R == 1) {  // one row: view it as [1, n]
    auto as2 = [](const auto& v) {
      using V = std::remove_cvref_t<decltype(v)>;
      return TensorView<typename V::element_type, 2, typename V::space>(v.data(), {1, v.size(0)}, {v.size(0) * v.stride(0), v.stride(0)});
    };
    if constexpr (std::is_same_v<M, std::nullptr_t>) softmax_impl(name, ctx, as2(o), as2(x), none, opt);
    else {
      const auto m2 = as2(*mask);
      softmax_impl(name, ctx, as2(o), as2(x), &m2, opt);
    }
  } else {
    using MV = typename mask_value_type<M>::type;
    SoftmaxParams<T, MV, R - 1> p{row_operand(o), row_operand(x), {nullptr, {}, 0}, {}, x.numel() / std::max<index_t>(x.size(R - 1), 1),
                                  x.size(R - 1), opt.scale, opt.log, opt.threads_per_row};
    for (std::size_t d = 0; d + 1 < R; ++d) p.lead_shape[d] = x.size(d);
    if constexpr (!std::is_same_v<M, std::nullptr_t>) {
      static_assert(M::rank == R, "softmax: mask must have x's rank (use extent-1 dimensions to broadcast)");
      static_assert(FloatStorage<MV> || is_boolean_mask<MV>, "softmax: mask dtype must be f32/f16/bf16 (additive) or "
                                                             "bool/u8 (keep where nonzero)");
      require_space<Ctx, M>();
      auto b = broadcast_to(name, "mask", *mask, x.shape());
      p.mask.data = b.data;
      for (std::size_t d = 0; d + 1 < R; ++d) p.mask.lead[d] = b.strides[d];
      p.mask.col = b.strides[R - 1];
    }
    if (x.empty()) return;
    OpImpl<op::Softmax, backend_of<Ctx>>::run(ctx, p);
  }
}
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X>
void softmax(Ctx& ctx, Out&& out, const X& x, SoftmaxOptions opt = {}) {
  detail::softmax_impl(opt.log ? "log_softmax" : "softmax", ctx, out.view(), x.view().as_const(), detail::none, opt);
}

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike M>
void softmax(Ctx& ctx, Out&& out, const X& x, const M& mask, SoftmaxOptions opt = {}) {
  const auto mv = mask.view().as_const();
  detail::softmax_impl(opt.log ? "log_softmax" : "softmax", ctx, out.view(), x.view().as_const(), &mv, opt);
}

template <Context Ctx, TensorLike Out, TensorLike X>
void log_softmax(Ctx& ctx, Out&& out, const X& x, SoftmaxOptions opt = {}) {
  opt.log = true;
  softmax(ctx, out, x, opt);
}

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike M>
void log_softmax(Ctx& ctx, Out&& out, const X& x, const M& mask, SoftmaxOptions opt = {}) {
  opt.log = true;
  softmax(ctx, out, x, mask, opt);
}

}  // namespace fusekit
