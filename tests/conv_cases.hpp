#pragma once
// Convolution cases shared by the CPU and GPU tests: random inputs in NCHW or NHWC memory, OIHW or
// OHWI weights, poisoned outputs, the float64 direct convolution (reference/conv.hpp) with the input
// prologue and the epilogue applied in double from their definitions.
#include "op_cases_nn.hpp"
#include "fusekit/ops/conv.hpp"
#include "fusekit/ops/conv_store_norm_act.hpp"
#include "fusekit/reference/conv.hpp"

namespace fusekit::test {

// What is fused around the convolution.
enum class ConvFusion {
  none,         // y = conv(x)
  bias_relu,    // y = relu(conv(x) + bias)
  katago,       // y = conv(mish(x * s + b) * mask) + residual      (a KataGo residual-block conv)
  norm_epilogue, // y = mish(conv(mish(x * s + b)) * s2 + b2) * mask (prologue without mask)
  katago_tee     // katago's y, and z = mish(y * s2 + b2) * mask stored beside it (epi::store_norm_act)
};

struct ConvCase {
  index_t n, cin, cout, h, w, k;
  Layout layout = Layout::nhwc;  // x, y and residual memory
  bool ohwi = true;              // weight storage (else OIHW)
  ConvFusion fusion = ConvFusion::none;
  ConvAlgo algo = ConvAlgo::automatic;
  GemmPath path = GemmPath::automatic;
  int tile = -1;
  ConvPrologue prologue = ConvPrologue::automatic;
  int splits = 0;
  bool tma_im2col = true;
  bool winograd_fp32_products = true;
};

inline bool has_prologue(ConvFusion f) { return f != ConvFusion::none && f != ConvFusion::bias_relu; }
inline bool has_residual(ConvFusion f) { return f == ConvFusion::katago || f == ConvFusion::katago_tee; }

inline std::string describe(const ConvCase& c) {
  return fmt::format("conv N {} {}->{} {}x{} k{} {} {} fusion {} algo {} path {} tile {} prologue {} splits {}{}{}", c.n,
                     c.cin, c.cout, c.h, c.w, c.k, c.layout == Layout::nhwc ? "NHWC" : "NCHW", c.ohwi ? "OHWI" : "OIHW",
                     static_cast<int>(c.fusion), static_cast<int>(c.algo), static_cast<int>(c.path), c.tile,
                     static_cast<int>(c.prologue), c.splits, c.tma_im2col ? "" : " gathered A",
                     c.winograd_fp32_products ? "" : " 16-bit products");
}

// Tolerance: fp32 accumulation (Winograd on the CPU adds its transforms' rounding), the prologue's
// output rounded to T before the matrix cores, one rounding into O.
template <class T, class O>
reference::Tolerance conv_tolerance() {
  const double floor = std::is_same_v<T, float> ? 1e-4 : std::is_same_v<T, half> ? 4e-3 : 3e-2;
  return fp32_tolerance<O>(floor);
}

// Winograd F(4x4, 3x3) with 16-bit T (the GPU path) rounds U = G g G^T and V = B^T d B to T, values up to
// about 25x its inputs, and the output transform (coefficients up to 8) carries that rounding into y. A
// host simulation of the GPU path (U, V in T, fp32 products) on these inputs gave relative RMS errors of
// 2.9e-3 (f16) and 2.3e-2 (bf16) on unit-variance outputs, largest 0.027 and 0.22 (Cin 64 to 384); with
// the products M in T too, 3.6e-3 and 2.9e-2, largest 0.037 and 0.31. The elementwise bound is 2-3x the
// largest, and the RMS must stay within 1.6-2x (a wrong coefficient or tile is off by about the output).
struct WinogradBound {
  reference::Tolerance elementwise;
  double rms;
};
template <class T>
WinogradBound winograd_bound() {
  if constexpr (std::is_same_v<T, half>) return {{0.0, 0.08}, 6e-3};
  else return {{0.0, 0.66}, 4.6e-2};
}

template <class Ctx, class T, class O>
void conv_case(Ctx& ctx, const ConvCase& k, std::uint64_t salt) {
  using B = Backend<Ctx>;
  namespace ra = reference::act;
  SCOPED_TRACE(describe(k) + fmt::format(" {} -> {}", dtype_of<T>, dtype_of<O>));
  const Shape<4> xs{k.n, k.cin, k.h, k.w}, ys{k.n, k.cout, k.h, k.w};
  const double wr = std::sqrt(3.0 / static_cast<double>(k.cin * k.k * k.k));  // unit-variance outputs
  auto x_mem = image_memory<T>(xs, k.layout, salt, -1.5, 1.5);
  auto w_mem = random_tensor<T, 4>(k.ohwi ? Shape<4>{k.cout, k.k, k.k, k.cin} : Shape<4>{k.cout, k.cin, k.k, k.k},
                                   salt + 1, -wr, wr);
  auto wlog = [&](const auto& v) { return k.ohwi ? v.permute({0, 3, 1, 2}) : v; };
  auto scale_h = random_tensor<float, 1>({k.cin}, salt + 2, 0.5, 1.5);
  auto bias_h = random_tensor<float, 1>({k.cin}, salt + 3, -0.5, 0.5);
  auto scale2_h = random_tensor<float, 1>({k.cout}, salt + 4, 0.5, 1.5);
  auto bias2_h = random_tensor<float, 1>({k.cout}, salt + 5, -0.5, 0.5);
  auto mask_h = board_mask<T>(k.n, k.h, k.w);
  auto res_mem = image_memory<O>(ys, k.layout, salt + 6, -1.0, 1.0);
  auto dx = B::upload(ctx, x_mem);
  auto dw = B::upload(ctx, w_mem);
  auto ds = B::upload(ctx, scale_h), db = B::upload(ctx, bias_h), ds2 = B::upload(ctx, scale2_h),
       db2 = B::upload(ctx, bias2_h);
  auto dm = B::upload(ctx, mask_h);
  auto dres = B::upload(ctx, res_mem);
  auto dy = B::template poisoned<O, 4>(ctx, k.layout == Layout::nhwc ? Shape<4>{k.n, k.h, k.w, k.cout} : ys);
  auto dz = B::template poisoned<O, 4>(ctx, k.fusion != ConvFusion::katago_tee ? Shape<4>{0, 0, 0, 0}
                                            : k.layout == Layout::nhwc        ? Shape<4>{k.n, k.h, k.w, k.cout}
                                                                              : ys);
  const auto x = logical(dx.view(), k.layout);
  const auto w = wlog(dw.view());
  auto y = logical(dy.view(), k.layout);
  const auto res = logical(dres.view(), k.layout);
  const ConvOptions opt{k.algo, k.path, k.tile, k.prologue, k.splits, k.tma_im2col, k.winograd_fp32_products};
  switch (k.fusion) {
    case ConvFusion::none: conv2d(ctx, y, x, w, opt); break;
    case ConvFusion::bias_relu:
      conv2d(ctx, y, x, w, make_epilogue(epi::bias(db2), epi::activation<act::Relu>()), opt);
      break;
    case ConvFusion::katago:
      conv2d(ctx, y, x, w, input_norm_act(ds, db, dm, act::Mish{}), make_epilogue(epi::residual(res)), opt);
      break;
    case ConvFusion::katago_tee:
      conv2d(ctx, y, x, w, input_norm_act(ds, db, dm, act::Mish{}),
             make_epilogue(epi::residual(res), epi::store_norm_act(logical(dz.view(), k.layout),
                                                                    input_norm_act(ds2, db2, dm, act::Mish{}))),
             opt);
      break;
    case ConvFusion::norm_epilogue:
      conv2d(ctx, y, x, w, input_norm_act(ds, db, act::Mish{}),
             make_epilogue(epi::scale_bias(ds2, db2), epi::activation<act::Mish>(), epi::board_mask(dm)), opt);
      break;
  }
  auto got = B::download(ctx, dy);

  // Reference: the prologue in double, the direct convolution, the epilogue in double.
  const auto xv = logical(x_mem.view().as_const(), k.layout);
  HostTensor<double, 4> xd(xs);
  const bool pro = has_prologue(k.fusion);
  for (index_t n = 0; n < k.n; ++n)
    for (index_t c = 0; c < k.cin; ++c)
      for (index_t h = 0; h < k.h; ++h)
        for (index_t q = 0; q < k.w; ++q) {
          double v = static_cast<double>(xv(n, c, h, q));
          if (pro) v = ra::mish(v * static_cast<double>(scale_h(c)) + static_cast<double>(bias_h(c)));
          if (has_residual(k.fusion)) v *= static_cast<double>(mask_h(n, 0, h, q));
          xd(n, c, h, q) = v;
        }
  auto expect = reference::conv2d<T>(xd.view().as_const(), wlog(w_mem.view().as_const()));
  const auto rv = logical(res_mem.view().as_const(), k.layout);
  for (index_t n = 0; n < k.n; ++n)
    for (index_t o = 0; o < k.cout; ++o)
      for (index_t h = 0; h < k.h; ++h)
        for (index_t q = 0; q < k.w; ++q) {
          double& v = expect(n, o, h, q);
          if (k.fusion == ConvFusion::bias_relu) v = ra::relu(v + static_cast<double>(bias2_h(o)));
          if (has_residual(k.fusion)) v += static_cast<double>(rv(n, o, h, q));
          if (k.fusion == ConvFusion::norm_epilogue)
            v = ra::mish(v * static_cast<double>(scale2_h(o)) + static_cast<double>(bias2_h(o))) *
                static_cast<double>(mask_h(n, 0, h, q));
        }
  const bool winograd16 = k.algo == ConvAlgo::winograd && is_16bit_float<T>;
  auto tol = conv_tolerance<T, O>();
  if (winograd16) {
    tol.atol += winograd_bound<T>().elementwise.atol;
    const auto g = logical(got.view(), k.layout);
    double se = 0, sy = 0;
    for (index_t n = 0; n < k.n; ++n)
      for (index_t o = 0; o < k.cout; ++o)
        for (index_t h = 0; h < k.h; ++h)
          for (index_t q = 0; q < k.w; ++q) {
            const double e = expect(n, o, h, q), d = to_float(g(n, o, h, q)) - e;
            se += d * d, sy += e * e;
          }
    const double rms = std::sqrt(se / std::max(sy, 1e-30));
    EXPECT_LT(rms, winograd_bound<T>().rms) << "Winograd relative RMS error";
    fmt::print("[ winograd ] {} {}: relative RMS error {:.3g}\n", describe(k), dtype_of<T>, rms);  // for the docs
  }
  EXPECT_TRUE(matches(logical(got.view(), k.layout), expect.view(), tol, "conv2d"));
  if (k.fusion == ConvFusion::katago_tee) {  // z from y's fp32 value (before its rounding into O)
    auto got_z = B::download(ctx, dz);
    HostTensor<double, 4> ez(ys);
    for (index_t n = 0; n < k.n; ++n)
      for (index_t o = 0; o < k.cout; ++o)
        for (index_t h = 0; h < k.h; ++h)
          for (index_t q = 0; q < k.w; ++q)
            ez(n, o, h, q) = ra::mish(expect(n, o, h, q) * static_cast<double>(scale2_h(o)) + static_cast<double>(bias2_h(o))) *
                             static_cast<double>(mask_h(n, 0, h, q));
    EXPECT_TRUE(matches(logical(got_z.view(), k.layout), ez.view(), tol, "conv2d store_norm_act"));
  }
}

// Every fusion on one shape, in both layouts.
template <class Ctx, class T, class O>
void conv_fusion_cases(Ctx& ctx, ConvCase k, std::uint64_t salt) {
  for (Layout layout : {Layout::nhwc, Layout::nchw})
    for (ConvFusion f : {ConvFusion::none, ConvFusion::bias_relu, ConvFusion::katago, ConvFusion::norm_epilogue,
                         ConvFusion::katago_tee}) {
      k.layout = layout;
      k.fusion = f;
      conv_case<Ctx, T, O>(ctx, k, salt++);
    }
}

// Wrong shapes, channel counts, kernels, aliasing and weight storage fail with a message naming them.
template <class Ctx>
void conv_bad_input_cases(Ctx& ctx) {
  using B = Backend<Ctx>;
  auto x = B::upload(ctx, random_tensor<float, 4>({2, 8, 5, 5}, 1));
  auto w = B::upload(ctx, random_tensor<float, 4>({4, 8, 3, 3}, 2));
  auto w_even = B::upload(ctx, random_tensor<float, 4>({4, 8, 2, 2}, 3));
  auto w7 = B::upload(ctx, random_tensor<float, 4>({4, 7, 3, 3}, 4));
  auto y = B::template poisoned<float, 4>(ctx, {2, 4, 5, 5});
  auto y_bad = B::template poisoned<float, 4>(ctx, {2, 4, 5, 6});
  auto s7 = B::upload(ctx, random_tensor<float, 1>({7}, 5));
  auto s8 = B::upload(ctx, random_tensor<float, 1>({8}, 6));
  auto b3 = B::upload(ctx, random_tensor<float, 1>({3}, 7));
  auto mask_bad = B::upload(ctx, board_mask<float>(2, 4, 5));
  auto res_bad = B::template poisoned<float, 4>(ctx, {2, 4, 5, 4});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w7); }, {"x has 8 channels but the weight expects 7"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w_even); }, {"square and odd"});
  expect_error_untouched(ctx, y_bad, [&] { conv2d(ctx, y_bad, x, w); }, {"y must be (N, Cout, H, W) = [2, 4, 5, 5]"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w.view().permute({0, 1, 3, 2})); }, {"dense OIHW or OHWI"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w, make_epilogue(epi::bias(b3))); }, {"bias has 3 elements"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w, input_norm_act(s7, s8, act::Mish{}), Epilogue<>{}); }, {"scale of 7 and bias of 8 elements but x has 8 channels"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w, input_norm_act(s8, s8, mask_bad, act::Mish{}), Epilogue<>{}); }, {"mask has shape [2, 1, 4, 5]"});
  expect_error_untouched(ctx, y, [&] { conv2d(ctx, y, x, w, make_epilogue(epi::residual(res_bad))); }, {"residual is [2, 20, 4]"});
  auto xy = B::template poisoned<float, 4>(ctx, {2, 8, 5, 5});
  expect_error([&] { conv2d(ctx, xy.view().slice(1, 0, 4), xy, w); }, "overlaps x");
  // epi::store_norm_act: its image's shape, its NormAct's channels and mask, and where it writes.
  auto s4 = B::upload(ctx, random_tensor<float, 1>({4}, 8));
  auto mask = B::upload(ctx, board_mask<float>(2, 5, 5));
  auto z = B::template poisoned<float, 4>(ctx, {2, 4, 5, 5});
  auto z_bad = B::template poisoned<float, 4>(ctx, {2, 4, 5, 6});
  auto w4 = B::upload(ctx, random_tensor<float, 4>({4, 4, 3, 3}, 9));
  expect_error_untouched(ctx, y, [&] {
    conv2d(ctx, y, x, w, make_epilogue(epi::store_norm_act(z, input_norm_act(s8, s8, act::Mish{}))));
  }, {"epi::store_norm_act has scale of 8 and bias of 8 elements but the output has 4 channels"});
  expect_error_untouched(ctx, y, [&] {
    conv2d(ctx, y, x, w, make_epilogue(epi::store_norm_act(z_bad, input_norm_act(s4, s4, act::Mish{}))));
  }, {"epi::store_norm_act writes 2 images of 30 pixels x 4 channels but the output is 2 x 25 x 4"});
  expect_error([&] { (void)epi::store_norm_act(z_bad, input_norm_act(s4, s4, mask, act::Mish{})); },
               "the mask is [2, 1, 5, 5] but dst is [2, 4, 5, 6]");
  expect_error_untouched(ctx, y, [&] {
    conv2d(ctx, y, xy.view().slice(1, 0, 4), w4,
           make_epilogue(epi::store_norm_act(xy.view().slice(1, 4, 8), input_norm_act(s4, s4, act::Mish{}))));
  }, {"second output overlaps x"});
  expect_error_untouched(ctx, z, [&] {
    conv2d(ctx, y, x, w, make_epilogue(epi::store_norm_act(y, input_norm_act(s4, s4, act::Mish{}))));
  }, {"second output overlaps y"});
  // In a GEMM (its rows taken as the image's pixels) the second output may not overlap a, b or c either.
  auto ga = B::upload(ctx, random_tensor<float, 2>({5, 8}, 10));
  auto gb = B::upload(ctx, random_tensor<float, 2>({8, 4}, 11));
  auto gc = B::template poisoned<float, 2>(ctx, {5, 4});
  const TensorView<float, 4, typename Ctx::space> over_a(ga.data(), {1, 4, 5, 1}, {20, 1, 4, 4});
  expect_error_untouched(ctx, gc, [&] {
    gemm(ctx, gc, ga, gb, make_epilogue(epi::store_norm_act(over_a, input_norm_act(s4, s4, act::Mish{}))));
  }, {"gemm: an epilogue stage's second output overlaps a, b or c"});
}

}  // namespace fusekit::test
