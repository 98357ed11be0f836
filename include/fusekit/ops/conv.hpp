#pragma once
// 2-D convolution, stride 1, zero "same" padding, odd square kernels (1x1, 3x3, 5x5, ...), with a fused
// input prologue and the GEMM epilogues (ops/gemm_epilogue.hpp):
//   conv2d(ctx, y, x, w[, opts])
//   conv2d(ctx, y, x, w, make_epilogue(stages...)[, opts])
//   conv2d(ctx, y, x, w, input_norm_act(scale, bias[, mask], act), make_epilogue(stages...)[, opts])
// x: logical (N, Cin, H, W), y: (N, Cout, H, W), both NCHW or NHWC memory (image_view) or any strides
// whose (h, w) collapse for y. w: (Cout, Cin, K, K), stored dense OIHW (PyTorch) or OHWI (permuted view
// of a [Cout, K, K, Cin] tensor; the GPU matrix-core path wants OHWI with NHWC x). On the CPU, w may
// also be cpu::ConvWeights prepared once (cpu/conv_weights.hpp): the per-call weight transform is then
// skipped. y may have another float dtype than x (the output cast). Epilogue stages see output columns
// = output channels and rows = pixels; epi::residual and epi::board_mask take (N, C, H, W) images.
// The prologue: x' = act(x * scale[c] + bias[c]) * mask[n, 0, h, w] inside the image, zero padding.
// Math in fp32 (fp32 accumulation of f16/bf16 products on the GPU).
#include "fusekit/cpu/conv.hpp"
#include "fusekit/ops/board_mask.hpp"
#include "fusekit/ops/conv_params.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/gemm.hpp"
#include "fusekit/ops/tags.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/conv.hpp"
#endif

namespace fusekit {

// The NormAct input prologue as given to conv2d: fp32 [Cin] scale and bias, an optional (N, 1, H, W)
// mask with x's dtype (MaskT = void: none), and the activation.
template <class MaskT, class Space, class Act>
struct InputNormAct {
  using space = Space;
  using mask_type = MaskT;
  using act_type = Act;
  epi::ScaleBias<Space> sb;
  const MaskT* mask = nullptr;
  Shape<4> mask_shape{};
  Strides<4> mask_strides{};
  Act act;
};

template <TensorLike VS, TensorLike VB, class Act>
auto input_norm_act(const VS& scale, const VB& bias, Act act) {
  const auto sb = epi::scale_bias(scale, bias);
  return InputNormAct<void, typename decltype(sb)::space, Act>{sb, nullptr, {}, {}, act};
}

template <TensorLike VS, TensorLike VB, TensorLike VM, class Act>
auto input_norm_act(const VS& scale, const VB& bias, const VM& mask, Act act) {
  const auto sb = epi::scale_bias(scale, bias);
  const auto m = mask.view().as_const();
  using MV = decltype(m);
  static_assert(MV::rank == 4 && FloatStorage<typename MV::value_type>,
                "input_norm_act: the mask must be an (N, 1, H, W) view with x's dtype");
  static_assert(std::is_same_v<typename MV::space, typename decltype(sb)::space>,
                "input_norm_act: scale, bias and mask must live in one memory space");
  return InputNormAct<typename MV::value_type, typename MV::space, Act>{sb, m.data(), m.shape(), m.strides(), act};
}

namespace detail {

template <class W> inline constexpr bool is_prepared_conv = std::is_same_v<std::remove_cvref_t<W>, cpu::ConvWeights>;

// How the (Cout, Cin, K, K) weight is stored: true for dense OHWI (channel-minor k), false for dense
// OIHW; anything else is an error naming the strides.
template <class V>
bool conv_weight_order(const V& w) {
  const index_t O = w.size(0), C = w.size(1), KH = w.size(2), KW = w.size(3);
  if (w.strides() == Strides<4>{C * KH * KW, KH * KW, KW, 1}) return false;
  if (w.strides() == Strides<4>{KH * KW * C, 1, KW * C, C}) return true;
  FUSEKIT_CHECK(O * C * KH * KW == 0, "conv2d: the weight must be stored dense OIHW or OHWI; shape {}, strides {}",
                w.shape(), w.strides());
  return true;
}

template <class Ctx, class Y, class X, class Wt, class Pro, class... S>
void conv2d_impl(Ctx& ctx, const Y& y, const X& x, const Wt& w, const Pro& pro, const Epilogue<S...>& epi,
                 const ConvOptions& opt) {
  using T = typename X::value_type;
  using O = typename Y::element_type;
  using E = Epilogue<S...>;
  static_assert(X::rank == 4 && Y::rank == 4, "conv2d: x and y must be rank-4 logical (N, C, H, W) views");
  static_assert(FloatStorage<T> && FloatStorage<O> && !std::is_const_v<O>,
                "conv2d: supported dtypes are f32, f16 and bf16 (and y must not be const)");
  static_assert(!E::gated && !E::paired, "conv2d: two-column epilogue stages (epi::gate, epi::rope) are for GEMMs only");
  require_space<Ctx, Y>();
  require_space<Ctx, X>();
  ConvShape s{};
  if constexpr (is_prepared_conv<Wt>) {
    static_assert(std::is_same_v<backend_of<Ctx>, CpuBackend>, "conv2d: cpu::ConvWeights are for cpu::Context");
    s = {x.size(0), w.cin, x.size(2), x.size(3), w.cout, w.k, w.k};
  } else {
    static_assert(Wt::rank == 4 && std::is_same_v<typename Wt::value_type, T>,
                  "conv2d: the weight must be a rank-4 (Cout, Cin, K, K) view with x's dtype");
    require_space<Ctx, Wt>();
    s = {x.size(0), w.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3)};
  }
  auto shapes = [&] {
    return fmt::format("x {} ({}), weight [{}, {}, {}, {}], y {} ({})", x.shape(), dtype_of<T>, s.cout, s.cin, s.kh,
                       s.kw, y.shape(), dtype_of<O>);
  };
  FUSEKIT_CHECK(s.kh == s.kw && s.kh % 2 == 1, "conv2d: the kernel must be square and odd (1x1, 3x3, 5x5, ...): {}",
                shapes());
  FUSEKIT_CHECK(x.size(1) == s.cin, "conv2d: x has {} channels but the weight expects {}: {}", x.size(1), s.cin, shapes());
  FUSEKIT_CHECK(y.size(0) == s.n && y.size(1) == s.cout && y.size(2) == s.h && y.size(3) == s.w,
                "conv2d: y must be (N, Cout, H, W) = [{}, {}, {}, {}]: {}", s.n, s.cout, s.h, s.w, shapes());
  epi::check_pixel_rows("conv2d: y", y);
  FUSEKIT_CHECK(!overlaps(y, x), "conv2d: y overlaps x (a convolution cannot run in place): {}", shapes());

  auto input = [&] {
    if constexpr (std::is_same_v<Pro, prologue::None>) {
      return ConvInput<T, prologue::None>{x.data(), x.strides(), s, true, {}};
    } else {
      using MaskT = std::conditional_t<std::is_void_v<typename Pro::mask_type>, T, typename Pro::mask_type>;
      static_assert(std::is_same_v<MaskT, T>, "conv2d: the prologue's mask must have x's dtype");
      static_assert(std::is_same_v<typename Pro::space, typename Ctx::space>,
                    "conv2d: the prologue's tensors live in another memory space than the context runs on");
      FUSEKIT_CHECK(pro.sb.s.size == s.cin && pro.sb.b.size == s.cin,
                    "conv2d: input_norm_act has scale of {} and bias of {} elements but x has {} channels: {}",
                    pro.sb.s.size, pro.sb.b.size, s.cin, shapes());
      const T* mask = static_cast<const T*>(pro.mask);
      if (mask) check_board_mask("conv2d: input_norm_act", TensorView<const T, 4, typename Ctx::space>(mask, pro.mask_shape, pro.mask_strides), x);
      using P = prologue::NormAct<T, typename Pro::act_type>;
      return ConvInput<T, P>{x.data(), x.strides(), s, true,
                             P{pro.sb.s.data, pro.sb.b.data, pro.sb.s.stride, pro.sb.b.stride, mask,
                               pro.mask_strides[0], pro.mask_strides[2], pro.mask_strides[3], pro.act}};
    }
  }();
  using In = decltype(input);
  epi.for_each([&](const auto& st, int) {
    using St = std::remove_cvref_t<decltype(st)>;
    if constexpr (!std::is_void_v<typename St::space>)
      static_assert(std::is_same_v<typename St::space, typename Ctx::space>,
                    "conv2d: an epilogue tensor lives in another memory space than the context runs on");
    st.check({"conv2d", s.n, s.h * s.w, s.cout, "output"});
    const bool hits_x = second_output_overlaps(st, x), hits_y = second_output_overlaps(st, y);
    FUSEKIT_CHECK(!hits_x && !hits_y, "conv2d: an epilogue stage's second output overlaps {}: {}", hits_x ? "x" : "y",
                  shapes());
  });
  // y as the batched GEMM's C: batch = image, row = pixel (h * W + w), column = output channel.
  GemmOperand<O> c{y.data(), y.stride(3), y.stride(1), y.stride(0)};
  GemmParams<T, O, E, In> p{input, {nullptr, 1, 0, 0}, c, s.n, s.h * s.w, s.cout, s.k(), s.cout, 1.f, 0.f, epi};
  if constexpr (is_prepared_conv<Wt>) {
    if (y.empty()) return;
    OpImpl<op::Conv, CpuBackend>::run(ctx, p, w, opt);
  } else {
    const bool channel_minor = conv_weight_order(w);
    p.a.channel_minor = channel_minor;
    FUSEKIT_CHECK(!overlaps(y, w), "conv2d: y overlaps the weight: {}", shapes());
    p.b = {w.data(), 1, w.stride(0), 0};  // [K, Cout]: k dense in either order
    if (y.empty()) return;
    if constexpr (std::is_same_v<backend_of<Ctx>, CpuBackend>)
      OpImpl<op::Conv, CpuBackend>::run(ctx, p, cpu::prepare_conv_weights(w), opt);
    else OpImpl<op::Conv, backend_of<Ctx>>::run(ctx, p, opt);
  }
}

}  // namespace detail

namespace detail {
// A raw weight as a const view; prepared CPU weights as they are.
template <class Wt>
decltype(auto) conv_weight_arg(const Wt& w) {
  if constexpr (is_prepared_conv<Wt>) return (w);
  else return w.view().as_const();
}
}  // namespace detail

template <Context Ctx, TensorLike Yv, TensorLike Xv, class Wt>
void conv2d(Ctx& ctx, Yv&& y, const Xv& x, const Wt& w, const ConvOptions& opt = {}) {
  detail::conv2d_impl(ctx, y.view(), x.view().as_const(), detail::conv_weight_arg(w), prologue::None{}, Epilogue<>{}, opt);
}

template <Context Ctx, TensorLike Yv, TensorLike Xv, class Wt, class... S>
void conv2d(Ctx& ctx, Yv&& y, const Xv& x, const Wt& w, const Epilogue<S...>& epi, const ConvOptions& opt = {}) {
  detail::conv2d_impl(ctx, y.view(), x.view().as_const(), detail::conv_weight_arg(w), prologue::None{}, epi, opt);
}

template <Context Ctx, TensorLike Yv, TensorLike Xv, class Wt, class MaskT, class Space, class Act, class... S>
void conv2d(Ctx& ctx, Yv&& y, const Xv& x, const Wt& w, const InputNormAct<MaskT, Space, Act>& pro,
            const Epilogue<S...>& epi, const ConvOptions& opt = {}) {
  detail::conv2d_impl(ctx, y.view(), x.view().as_const(), detail::conv_weight_arg(w), pro, epi, opt);
}

}  // namespace fusekit
