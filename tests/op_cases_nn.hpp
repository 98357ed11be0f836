#pragma once
// Shared cases for the network ops (NormAct, softmax, global pooling, RoPE) and the fused elementwise
// ops, run by the CPU and GPU tests. Same rules as op_cases.hpp: fresh random inputs, poisoned outputs,
// float64 references, per-dtype tolerances.
#include <limits>

#include "op_cases.hpp"
#include "fusekit/ops/axpby.hpp"
#include "fusekit/ops/bias_add.hpp"
#include "fusekit/ops/global_pool.hpp"
#include "fusekit/ops/norm_act.hpp"
#include "fusekit/ops/rope.hpp"
#include "fusekit/ops/softmax.hpp"
#include "fusekit/reference/global_pool.hpp"
#include "fusekit/reference/norm_act.hpp"
#include "fusekit/reference/rope.hpp"
#include "fusekit/reference/softmax.hpp"

namespace fusekit::test {

// The tolerance of a result computed in fp32 from a few roundings and stored in T.
template <class T>
reference::Tolerance fp32_tolerance(double atol_floor) {
  auto t = reference::tolerance_for<T>();
  t.atol = std::max(t.atol, atol_floor);
  return t;
}

// An (N, C, H, W) tensor's memory in NCHW or NHWC order, and its logical view.
template <class T>
HostTensor<T, 4> image_memory(const Shape<4>& nchw, Layout layout, std::uint64_t salt, double lo = -3.0, double hi = 3.0) {
  const Shape<4> mem = layout == Layout::nhwc ? Shape<4>{nchw[0], nchw[2], nchw[3], nchw[1]} : nchw;
  return random_tensor<T, 4>(mem, salt, lo, hi);
}
template <class V>
auto logical(const V& memory_view, Layout layout) {
  return layout == Layout::nhwc ? memory_view.permute({0, 3, 1, 2}) : memory_view;
}

// KataGo-style masks: board n is a square of side H - (n % 3) * 3 in the corner (1 on it, 0 off it);
// with `empty_board` the last board has no cell at all.
template <class T>
HostTensor<T, 4> board_mask(index_t N, index_t H, index_t W, bool empty_board = false) {
  HostTensor<T, 4> m({N, 1, H, W});
  for (index_t n = 0; n < N; ++n) {
    const index_t side = std::max<index_t>(1, H - (n % 3) * 3);
    for (index_t h = 0; h < H; ++h)
      for (index_t w = 0; w < W; ++w)
        m(n, 0, h, w) = convert<T>((h < side && w < side && !(empty_board && n == N - 1)) ? 1.0 : 0.0);
  }
  return m;
}

// -------- NormAct --------

struct NormActCase {
  Shape<4> shape;
  Layout layout;
  bool mask;
  bool in_place = false;
};

template <class Ctx, class T, class W, class Act>
void norm_act_case(Ctx& ctx, const NormActCase& k, const Act& f, double (*ref)(double), const char* name,
                   std::uint64_t salt) {
  using B = Backend<Ctx>;
  const auto [N, C, H, Wd] = k.shape.e;
  auto xm = image_memory<T>(k.shape, k.layout, salt);
  auto scale = random_tensor<W, 1>({C}, salt + 1, 0.2, 1.5);
  auto bias = random_tensor<W, 1>({C}, salt + 2, -1.0, 1.0);
  auto mask = board_mask<T>(N, H, Wd);
  auto dx = B::upload(ctx, xm);
  auto ds = B::upload(ctx, scale);
  auto db = B::upload(ctx, bias);
  auto dm = B::upload(ctx, mask);
  auto out = B::template poisoned<T, 4>(ctx, xm.shape());
  auto& target = k.in_place ? dx : out;
  const auto x_logical = logical(dx.view(), k.layout);
  if (k.mask) norm_act(ctx, logical(target.view(), k.layout), x_logical, ds, db, dm, f);
  else norm_act(ctx, logical(target.view(), k.layout), x_logical, ds, db, f);
  auto h = B::download(ctx, target);
  const auto mv = mask.view().as_const();
  const auto expect = reference::norm_act<T, W>(logical(xm.view().as_const(), k.layout), scale.view(), bias.view(),
                                               k.mask ? &mv : nullptr, ref);
  EXPECT_TRUE(matches(logical(h.view(), k.layout), expect.view(), fp32_tolerance<T>(4e-6),
                      fmt::format("norm_act {} {} {} {} w={} mask={} in_place={}", name, k.shape,
                                  k.layout == Layout::nhwc ? "NHWC" : "NCHW", dtype_of<T>, dtype_of<W>, k.mask, k.in_place)));
}

template <class Ctx>
void norm_act_cases(Ctx& ctx) {
  namespace ra = reference::act;
  const NormActCase cases[] = {
      {{2, 384, 19, 19}, Layout::nhwc, true},  {{3, 96, 19, 19}, Layout::nchw, true},
      {{1, 3, 7, 5}, Layout::nchw, true},      {{2, 12, 9, 9}, Layout::nhwc, true},
      {{2, 5, 3, 3}, Layout::nhwc, false},     {{4, 48, 19, 19}, Layout::nchw, false},
      {{2, 64, 19, 19}, Layout::nhwc, true, true}, {{1, 2, 19, 19}, Layout::nchw, true, true},
      {{2, 24, 5, 5}, Layout::nhwc, true}};  // f16: one vector per thread (24 % 16 != 0) for heavy functors too
  std::uint64_t salt = 900;
  for (const auto& k : cases) {
    norm_act_case<Ctx, float, float>(ctx, k, act::Mish{}, ra::mish, "mish", salt++);
    norm_act_case<Ctx, half, half>(ctx, k, act::Mish{}, ra::mish, "mish", salt++);
    norm_act_case<Ctx, bfloat16, float>(ctx, k, act::Mish{}, ra::mish, "mish", salt++);
    norm_act_case<Ctx, half, half>(ctx, k, act::MishScale8{}, ra::mish_scale8, "mish_scale8", salt++);
    norm_act_case<Ctx, float, float>(ctx, k, act::Relu{}, ra::relu, "relu", salt++);
    norm_act_case<Ctx, bfloat16, bfloat16>(ctx, k, act::Identity{}, ra::identity, "identity", salt++);
  }
}

// A strided (non-dense) x: every other channel of a wider tensor.
template <class Ctx>
void norm_act_strided_case(Ctx& ctx) {
  using B = Backend<Ctx>;
  const Shape<4> wide{2, 16, 5, 7};
  auto xm = image_memory<half>(wide, Layout::nhwc, 950);
  auto scale = random_tensor<float, 1>({8}, 951, 0.2, 1.5);
  auto bias = random_tensor<float, 1>({8}, 952);
  auto mask = board_mask<half>(2, 5, 7);
  auto dx = B::upload(ctx, xm);
  auto ds = B::upload(ctx, scale);
  auto db = B::upload(ctx, bias);
  auto dm = B::upload(ctx, mask);
  auto out = B::template poisoned<half, 4>(ctx, {2, 8, 5, 7});  // NCHW output from an NHWC-strided input
  auto every_other = [](auto v) {
    auto s = v.strides();
    auto sh = v.shape();
    sh[1] /= 2;
    s[1] *= 2;
    return decltype(v)(v.data(), sh, s);
  };
  norm_act(ctx, out, every_other(logical(dx.view(), Layout::nhwc)), ds, db, dm, act::Mish{});
  const auto mv = mask.view().as_const();
  const auto expect = reference::norm_act<half, float>(every_other(logical(xm.view().as_const(), Layout::nhwc)),
                                                      scale.view(), bias.view(), &mv, reference::act::mish);
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), fp32_tolerance<half>(4e-6), "norm_act strided"));
}

// -------- softmax --------

enum class MaskKind { none, additive_row, boolean };

struct SoftmaxCase {
  index_t rows, cols;
  MaskKind mask;
  bool log;
};

template <class Ctx, class T>
void softmax_case(Ctx& ctx, const SoftmaxCase& k, std::uint64_t salt) {
  using B = Backend<Ctx>;
  const double inf = std::numeric_limits<double>::infinity();
  auto x = random_tensor<T, 2>({k.rows, k.cols}, salt, -6.0, 6.0);
  if (k.mask == MaskKind::none && k.rows > 2) x(2, k.cols / 2) = convert<T>(std::numeric_limits<double>::quiet_NaN());
  // additive: one row [1, cols] broadcast over rows, with -Inf entries; boolean: per element, with a
  // fully masked row 1
  auto add_mask = random_tensor<T, 2>({1, k.cols}, salt + 1, -2.0, 2.0);
  for (index_t c = 0; c < k.cols; c += 7) add_mask(0, c) = convert<T>(-inf);
  HostTensor<std::uint8_t, 2> keep({k.rows, k.cols});
  {
    auto coin = random_tensor<float, 2>({k.rows, k.cols}, salt + 2, 0.0, 1.0);
    for (index_t r = 0; r < k.rows; ++r)
      for (index_t c = 0; c < k.cols; ++c) keep(r, c) = (coin(r, c) < 0.7f && r != 1) ? 1 : 0;
  }
  auto mask_value = [&](index_t r, index_t c) -> double {
    if (k.mask == MaskKind::additive_row) return static_cast<double>(add_mask(0, c));
    if (k.mask == MaskKind::boolean) return keep(r, c) ? 0.0 : -inf;
    return 0.0;
  };
  const float scale = 0.75f;
  const SoftmaxOptions opt{scale, k.log};
  auto dx = B::upload(ctx, x);
  auto out = B::template poisoned<T, 2>(ctx, x.shape());
  if (k.mask == MaskKind::additive_row) softmax(ctx, out, dx, B::upload(ctx, add_mask), opt);
  else if (k.mask == MaskKind::boolean) softmax(ctx, out, dx, B::upload(ctx, keep), opt);
  else softmax(ctx, out, dx, opt);
  const auto expect = reference::softmax<T>(x.view(), scale, k.log, mask_value);
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), fp32_tolerance<T>(k.log ? 2e-5 : 1e-6),
                      fmt::format("{} {}x{} {} mask={}", k.log ? "log_softmax" : "softmax", k.rows, k.cols,
                                  dtype_of<T>, static_cast<int>(k.mask))));
}

// Attention-shaped scores [B, H, Q, K] with a [B, 1, Q, K] additive mask, written in place.
// keys = 33: element by element; 32: vectors, the mask's head dimension broadcast (stride 0).
template <class Ctx, class T>
void softmax_attention_case(Ctx& ctx, index_t keys, std::uint64_t salt) {
  using B = Backend<Ctx>;
  const Shape<4> s{2, 3, 5, keys};
  auto x = random_tensor<T, 4>(s, salt, -4.0, 4.0);
  auto m = random_tensor<float, 4>({2, 1, 5, keys}, salt + 1, -3.0, 1.0);
  auto dx = B::upload(ctx, x);
  softmax(ctx, dx, dx, B::upload(ctx, m), {0.5f, false});
  const auto x2 = x.view().reshape(Shape<2>{2 * 3 * 5, keys});
  auto mask_value = [&](index_t r, index_t c) { return static_cast<double>(m(r / 15, 0, r % 5, c)); };
  const auto expect = reference::softmax<T>(x2.as_const(), 0.5, false, mask_value);
  auto h = B::download(ctx, dx);
  EXPECT_TRUE(matches(h.view().reshape(Shape<2>{30, keys}), expect.view(), fp32_tolerance<T>(1e-6),
                      fmt::format("softmax [B,H,Q,{}] {} in place", keys, dtype_of<T>)));
}

template <class Ctx>
void softmax_cases(Ctx& ctx) {
  // (The GPU moves 8-byte vectors where cols allows: the even widths; the odd ones go element by element.
  // Together they reach every GPU kernel: warp rows of 2/4/8 vectors, blocks of 256 and 1024, generic.)
  const std::pair<index_t, index_t> shapes[] = {{1, 16384}, {11, 4304}, {788, 1152}, {6304, 72}, {3, 2048},
                                                {5, 1024},  {7, 100},   {2, 20000},  {9, 500},   {4, 1},
                                                {64, 788},  {5, 101},   {3, 333},    {2, 1999},  {2, 9999},
                                                {2, 20001}};
  std::uint64_t salt = 1000;
  for (auto [rows, cols] : shapes)
    for (MaskKind mk : {MaskKind::none, MaskKind::additive_row, MaskKind::boolean})
      for (bool log : {false, true}) {
        const SoftmaxCase k{rows, cols, mk, log};
        softmax_case<Ctx, float>(ctx, k, salt++);
        softmax_case<Ctx, half>(ctx, k, salt++);
        softmax_case<Ctx, bfloat16>(ctx, k, salt++);
      }
  for (index_t keys : {33, 32}) {
    softmax_attention_case<Ctx, float>(ctx, keys, 1100 + keys);
    softmax_attention_case<Ctx, bfloat16>(ctx, keys, 1200 + keys);
  }
}

// -------- global pooling --------

template <class Ctx, class T, class O>
void global_pool_case(Ctx& ctx, const Shape<4>& shape, Layout layout, bool mask, PoolKind kind, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto xm = image_memory<T>(shape, layout, salt, -1.0, 4.0);
  auto m = board_mask<T>(shape[0], shape[2], shape[3], /*empty_board=*/shape[0] > 3);
  auto dx = B::upload(ctx, xm);
  auto dm = B::upload(ctx, m);
  auto out = B::template poisoned<O, 2>(ctx, {shape[0], 3 * shape[1]});
  if (mask) global_pool(ctx, out, logical(dx.view(), layout), dm, kind);
  else global_pool(ctx, out, logical(dx.view(), layout), kind);
  const auto mv = m.view().as_const();
  const auto expect = reference::global_pool<T>(logical(xm.view().as_const(), layout), mask ? &mv : nullptr, kind);
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), fp32_tolerance<O>(2e-6),
                      fmt::format("global_pool {} {} {} -> {} mask={} kind={}", shape,
                                  layout == Layout::nhwc ? "NHWC" : "NCHW", dtype_of<T>, dtype_of<O>, mask,
                                  static_cast<int>(kind))));
}

template <class Ctx>
void global_pool_cases(Ctx& ctx) {
  std::uint64_t salt = 1200;
  for (const Shape<4> s : {Shape<4>{3, 64, 19, 19}, Shape<4>{5, 37, 19, 19}, Shape<4>{2, 48, 9, 9}, Shape<4>{1, 1, 1, 1},
                           Shape<4>{4, 96, 13, 13}, Shape<4>{1, 384, 19, 19}, Shape<4>{2, 40, 1, 7}})
    for (Layout layout : {Layout::nchw, Layout::nhwc})
      for (PoolKind kind : {PoolKind::katago, PoolKind::value_head}) {
        global_pool_case<Ctx, float, float>(ctx, s, layout, true, kind, salt++);
        global_pool_case<Ctx, half, float>(ctx, s, layout, true, kind, salt++);
        global_pool_case<Ctx, bfloat16, bfloat16>(ctx, s, layout, true, kind, salt++);
        global_pool_case<Ctx, half, half>(ctx, s, layout, false, kind, salt++);
      }
}

// -------- RoPE --------

template <class Ctx, class P>
auto positions_for(Ctx& ctx, index_t tokens, std::uint64_t salt) {
  HostTensor<P, 1> pos({tokens});
  auto r = random_tensor<float, 1>({tokens}, salt, 0.0, 8191.0);
  for (index_t t = 0; t < tokens; ++t) pos(t) = static_cast<P>(t % 3 == 0 ? t : static_cast<index_t>(r(t)));
  if (tokens > 1) pos(1) = 100003;  // past the GPU's fast angle reduction (kernels use libm's sincosf there)
  return std::pair{pos.clone(), Backend<Ctx>::upload(ctx, pos)};
}

template <class Ctx, class T, class P>
void rope_case(Ctx& ctx, index_t tokens, index_t heads, index_t dim, RopeLayout layout, index_t rotary, std::uint64_t salt) {
  using B = Backend<Ctx>;
  const RopeOptions opt{10000.f, layout, rotary};
  auto [pos, dpos] = positions_for<Ctx, P>(ctx, tokens, salt);
  auto x = random_tensor<T, 3>({tokens, heads, dim}, salt + 1);
  const auto what = fmt::format("rope {}x{}x{} {} rotary={} layout={} pos={}", tokens, heads, dim, dtype_of<T>, rotary,
                                static_cast<int>(layout), dtype_of<P>);
  const auto expect = reference::rope<T, P>(x.view(), pos.view(), 10000.0, layout, rotary);
  const auto tol = fp32_tolerance<T>(4e-6);
  // out of place, into a strided view (heads-major [heads, tokens, dim] memory, as a KV cache might be)
  auto dx = B::upload(ctx, x);
  auto out = B::template poisoned<T, 3>(ctx, {heads, tokens, dim});
  rope(ctx, out.view().permute({1, 0, 2}), dx, dpos, opt);
  EXPECT_TRUE(matches(B::download(ctx, out).view().permute({1, 0, 2}), expect.view(), tol, what + " (strided out)"));
  // in place
  rope(ctx, dx, dx, dpos, opt);
  EXPECT_TRUE(matches(B::download(ctx, dx).view(), expect.view(), tol, what + " (in place)"));
}

// Gemma-style q [T, 8, 256] and k, v [T, 1, 256]: rope_qk in place, and rope_qkv_to_cache into slots
// [start, start + T) of a poisoned [capacity, 1, 256] cache whose other slots must stay untouched.
template <class Ctx, class T>
void rope_qkv_case(Ctx& ctx, index_t tokens, index_t q_heads, index_t kv_heads, index_t dim, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto [pos, dpos] = positions_for<Ctx, std::int64_t>(ctx, tokens, salt);
  auto q = random_tensor<T, 3>({tokens, q_heads, dim}, salt + 1);
  auto k = random_tensor<T, 3>({tokens, kv_heads, dim}, salt + 2);
  auto v = random_tensor<T, 3>({tokens, kv_heads, dim}, salt + 3);
  const auto eq = reference::rope<T, std::int64_t>(q.view(), pos.view(), 10000.0, RopeLayout::half_split, 0);
  const auto ek = reference::rope<T, std::int64_t>(k.view(), pos.view(), 10000.0, RopeLayout::half_split, 0);
  const auto tol = fp32_tolerance<T>(4e-6);
  const auto what = fmt::format("{}x({}+{})x{} {}", tokens, q_heads, kv_heads, dim, dtype_of<T>);
  {
    auto dq = B::upload(ctx, q);
    auto dk = B::upload(ctx, k);
    rope_qk(ctx, dq, dk, dpos);
    EXPECT_TRUE(matches(B::download(ctx, dq).view(), eq.view(), tol, "rope_qk q " + what));
    EXPECT_TRUE(matches(B::download(ctx, dk).view(), ek.view(), tol, "rope_qk k " + what));
  }
  const index_t start = 5, capacity = tokens + 9;
  auto dq = B::upload(ctx, q);
  auto dk = B::upload(ctx, k);
  auto dv = B::upload(ctx, v);
  auto kc = B::template poisoned<T, 3>(ctx, {capacity, kv_heads, dim});
  auto vc = B::template poisoned<T, 3>(ctx, {capacity, kv_heads, dim});
  rope_qkv_to_cache(ctx, dq, dk, dv, dpos, kc.view().slice(0, start, start + tokens),
                    vc.view().slice(0, start, start + tokens));
  EXPECT_TRUE(matches(B::download(ctx, dq).view(), eq.view(), tol, "rope_qkv_to_cache q " + what));
  auto hk = B::download(ctx, kc);
  auto hv = B::download(ctx, vc);
  EXPECT_TRUE(matches(hk.view().slice(0, start, start + tokens), ek.view(), tol, "rope_qkv_to_cache k " + what));
  EXPECT_TRUE(matches(hv.view().slice(0, start, start + tokens), reference::to_double(v.view().as_const()).view(),
                      {0, 0}, "rope_qkv_to_cache v " + what));
  for (index_t s : {index_t{0}, start - 1, start + tokens, capacity - 1})
    for (index_t d = 0; d < dim; ++d) {
      ASSERT_TRUE(std::isnan(static_cast<double>(hk(s, 0, d)))) << "k cache slot " << s << " written";
      ASSERT_TRUE(std::isnan(static_cast<double>(hv(s, 0, d)))) << "v cache slot " << s << " written";
    }
}

template <class Ctx>
void rope_cases(Ctx& ctx) {
  std::uint64_t salt = 1300;
  for (RopeLayout layout : {RopeLayout::half_split, RopeLayout::interleaved}) {
    rope_case<Ctx, float, std::int32_t>(ctx, 11, 3, 64, layout, 0, salt++);
    rope_case<Ctx, bfloat16, std::int64_t>(ctx, 788, 2, 256, layout, 0, salt++);
    rope_case<Ctx, half, std::int32_t>(ctx, 1, 8, 72, layout, 0, salt++);
    rope_case<Ctx, float, std::int64_t>(ctx, 13, 2, 96, layout, 32, salt++);  // partial rotary
    rope_case<Ctx, bfloat16, std::int32_t>(ctx, 7, 5, 16, layout, 10, salt++);
  }
  rope_qkv_case<Ctx, bfloat16>(ctx, 788, 8, 1, 256, salt++);
  rope_qkv_case<Ctx, float>(ctx, 17, 4, 2, 128, salt++);
  rope_qkv_case<Ctx, half>(ctx, 3, 2, 1, 64, salt++);
}

// -------- fused elementwise: axpby, scale, bias_add --------

template <class Ctx, class A, class Bt, class O>
void axpby_case(Ctx& ctx, const Shape<2>& sa, const Shape<2>& sb, const Shape<2>& so, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto a = random_tensor<A, 2>(sa, salt);
  auto b = random_tensor<Bt, 2>(sb, salt + 1);
  auto out = B::template poisoned<O, 2>(ctx, so);
  const double alpha = 0.7, beta = -1.3;
  axpby(ctx, out, B::upload(ctx, a), B::upload(ctx, b), alpha, beta);
  HostTensor<double, 2> expect(so);
  for (index_t r = 0; r < so[0]; ++r)
    for (index_t c = 0; c < so[1]; ++c)
      expect(r, c) = alpha * static_cast<double>(a(sa[0] == 1 ? 0 : r, sa[1] == 1 ? 0 : c)) +
                     beta * static_cast<double>(b(sb[0] == 1 ? 0 : r, sb[1] == 1 ? 0 : c));
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), fp32_tolerance<O>(1e-6),
                      fmt::format("axpby {} {} -> {} {}", sa, sb, so, dtype_of<O>)));
  auto scaled = B::template poisoned<O, 2>(ctx, sa);
  scale(ctx, scaled, B::upload(ctx, a), alpha);
  HostTensor<double, 2> es(sa);
  for (index_t i = 0; i < es.numel(); ++i) es.data()[i] = alpha * static_cast<double>(a.data()[i]);
  EXPECT_TRUE(matches(B::download(ctx, scaled).view(), es.view(), fp32_tolerance<O>(1e-6),
                      fmt::format("scale {} {} -> {}", sa, dtype_of<A>, dtype_of<O>)));
}

template <class Ctx, class T, class Bi>
void bias_add_case(Ctx& ctx, const Shape<3>& s, std::size_t axis, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto x = random_tensor<T, 3>(s, salt);
  auto bias = random_tensor<Bi, 1>({s[axis]}, salt + 1);
  auto out = B::template poisoned<T, 3>(ctx, s);
  bias_add(ctx, out, B::upload(ctx, x), B::upload(ctx, bias), axis, act::GeluTanh{});
  HostTensor<double, 3> expect(s);
  for (index_t i = 0; i < s[0]; ++i)
    for (index_t j = 0; j < s[1]; ++j)
      for (index_t k = 0; k < s[2]; ++k) {
        const index_t idx[] = {i, j, k};
        expect(i, j, k) = reference::act::gelu_tanh(static_cast<double>(x(i, j, k)) + static_cast<double>(bias(idx[axis])));
      }
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), fp32_tolerance<T>(4e-6),
                      fmt::format("bias_add+gelu {} axis {} {}", s, axis, dtype_of<T>)));
}

template <class Ctx>
void fused_elementwise_cases(Ctx& ctx) {
  axpby_case<Ctx, float, float, float>(ctx, {11, 1024}, {11, 1024}, {11, 1024}, 1400);
  axpby_case<Ctx, bfloat16, bfloat16, bfloat16>(ctx, {788, 72}, {1, 72}, {788, 72}, 1401);
  axpby_case<Ctx, half, float, bfloat16>(ctx, {13, 33}, {13, 1}, {13, 33}, 1402);
  axpby_case<Ctx, bfloat16, bfloat16, float>(ctx, {6, 2048}, {6, 2048}, {6, 2048}, 1403);
  bias_add_case<Ctx, bfloat16, float>(ctx, {7, 11, 1152}, 2, 1410);
  bias_add_case<Ctx, half, half>(ctx, {2, 48, 361}, 1, 1411);
  bias_add_case<Ctx, float, float>(ctx, {5, 3, 9}, 0, 1412);
}

}  // namespace fusekit::test
