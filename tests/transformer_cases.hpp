#pragma once
// Transformer-layer cases written once for every backend:
//  - HF fixtures (tests/data/transformer, made by make_transformer_fixtures.py with transformers on the GPU
//    machine): a 2-layer Gemma (head_dim 256, MQA) and a 2-layer SigLIP (head_dim 72), per-layer outputs
//  - two experts attending jointly under the Pi0 block mask against the float64 reference
//    (reference/gemma.hpp), and the same result from a prefix pass that fills the KV cache followed by
//    a suffix pass that reads it (twice: a denoising step rewrites the same slots)
//  - decode equals prefill: tokens one at a time through the cache equal one causal prefill
// KV caches are poisoned with NaN first, so a read of an unwritten slot shows.
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "op_cases.hpp"
#include "fusekit/io/npy.hpp"
#include "fusekit/ops/adaptive_rmsnorm.hpp"
#include "fusekit/ops/fill.hpp"
#include "fusekit/reference/gemma.hpp"
#include "fusekit/reference/pi0.hpp"
#include "fusekit/transformer/gemma.hpp"
#include "fusekit/transformer/pi0.hpp"
#include "fusekit/transformer/siglip.hpp"

namespace fusekit::test {

// FUSEKIT_SOURCE_DIR in the environment overrides the built-in path: for test binaries built on one
// machine and run from another checkout (the GPU machine).
inline std::string transformer_data(const std::string& file) {
  const char* root = std::getenv("FUSEKIT_SOURCE_DIR");
  return std::string(root ? root : FUSEKIT_SOURCE_DIR) + "/tests/data/transformer/" + file;
}

// Tolerance relative to the largest expected magnitude (hidden states grow through the residual stream).
template <class T>
reference::Tolerance stream_tolerance(double scale) {
  const double e = std::is_same_v<T, float> ? 2e-5 : 16 * unit_roundoff<T>();
  return {e, e * scale};
}

template <class T, std::size_t R>
HostTensor<double, R> to_double(const HostTensor<T, R>& t) {
  HostTensor<double, R> d(t.shape());
  for (index_t i = 0; i < t.numel(); ++i) d.data()[i] = static_cast<double>(to_float(t.data()[i]));
  return d;
}
template <std::size_t R>
double max_abs(const HostTensor<double, R>& t) {
  double m = 0;
  for (index_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.data()[i]));
  return m;
}
template <class T, std::size_t R>
HostTensor<T, R> from_float(const HostTensor<float, R>& f, double scale = 1.0) {
  HostTensor<T, R> t(f.shape());
  for (index_t i = 0; i < f.numel(); ++i) t.data()[i] = convert<T>(static_cast<float>(f.data()[i] * scale));
  return t;
}

template <class Ctx, class T>
void poison_cache(Ctx& ctx, transformer::KVCache<T, typename Ctx::space>& c) {
  for (index_t l = 0; l < c.layers(); ++l) {
    fill(ctx, c.k(l), std::numeric_limits<double>::quiet_NaN());
    fill(ctx, c.v(l), std::numeric_limits<double>::quiet_NaN());
  }
}

// A host copy of any view in ctx's space.
template <class Ctx, class T, std::size_t R, class S>
HostTensor<std::remove_const_t<T>, R> fetch(Ctx& ctx, const TensorView<T, R, S>& v) {
  if constexpr (std::is_same_v<S, HostSpace>) return dense_copy(v);
  else return to_host(ctx, v);
}

// ---- embedding lookup: random table, repeated and edge ids, a strided output, a bad id ----
template <class Ctx, class T>
void embedding_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  const index_t V = 37, C = 19, N = 11;
  const auto table_h = random_tensor<T, 2>({V, C}, 61);
  HostTensor<std::int32_t, 1> ids_h({N});
  for (index_t i = 0; i < N; ++i) ids_h(i) = static_cast<std::int32_t>(i == 0 ? 0 : i == 1 ? V - 1 : (5 * i) % V);
  const auto table = Bk::upload(ctx, table_h);
  const auto ids = Bk::upload(ctx, ids_h);
  auto out = Bk::template poisoned<T, 2>(ctx, Shape<2>{N, 2 * C});  // write every other column
  const auto ov = out.view();
  embedding(ctx, TensorView<T, 2, typename Ctx::space>(ov.data(), {N, C}, {2 * C, 2}), table, ids, 1.5);
  const auto got = Bk::download(ctx, out);
  HostTensor<double, 2> want({N, C});
  HostTensor<T, 2> got_cols({N, C});
  for (index_t i = 0; i < N; ++i)
    for (index_t c = 0; c < C; ++c) {
      want(i, c) = to_float(table_h(ids_h(i), c)) * 1.5;
      got_cols(i, c) = got(i, 2 * c);
    }
  EXPECT_TRUE(matches(got_cols.view(), want.view(), {unit_roundoff<T>(), 0.0}, "embedding"));
  HostTensor<std::int32_t, 1> bad_h({2});
  bad_h(0) = 3;
  bad_h(1) = static_cast<std::int32_t>(V);
  const auto bad = Bk::upload(ctx, bad_h);
  auto out2 = Bk::template poisoned<T, 2>(ctx, Shape<2>{2, C});
  if constexpr (std::is_same_v<typename Ctx::space, HostSpace>) {
    expect_error([&] { embedding(ctx, out2, table, bad); }, {"embedding: token 1 has id 37 outside the table's 37 rows"});
  } else {  // ids on the device: the bad row is NaN, the good one is written
    embedding(ctx, out2, table, bad);
    const auto g2 = Bk::download(ctx, out2);
    EXPECT_EQ(to_float(g2(0, 0)), to_float(table_h(3, 0)));
    for (index_t c = 0; c < C; ++c) EXPECT_TRUE(std::isnan(to_float(g2(1, c))));
  }
  expect_error([&] { embedding(ctx, out2.view().slice(1, 0, C - 1), table, bad); }, "embedding: out");
}

// ---- pi0.5's adaptive RMSNorm and gated residual, against float64 ----
template <class Ctx, class T>
void adaptive_norm_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  const index_t B = 3, Tn = 5, W = 37, K = 13;
  const auto x_h = random_tensor<T, 3>({B, Tn, W}, 51, -3, 3);
  const auto mod_h = random_tensor<float, 2>({B, 3 * W}, 52, -1, 1);  // [scale | shift | gate]
  const auto x = Bk::upload(ctx, x_h);
  const auto mod = Bk::upload(ctx, mod_h);
  auto out = Bk::template poisoned<T, 3>(ctx, Shape<3>{B, Tn, W});
  const auto mv = mod.view();
  adaptive_rmsnorm(ctx, out, x, mv.slice(1, 0, W), mv.slice(1, W, 2 * W), {.eps = 1e-5f});
  HostTensor<double, 3> want({B, Tn, W});
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < Tn; ++t) {
      double ss = 0;
      for (index_t c = 0; c < W; ++c) ss += std::pow(double(to_float(x_h(b, t, c))), 2);
      const double s = 1.0 / std::sqrt(ss / double(W) + 1e-5);
      for (index_t c = 0; c < W; ++c)
        want(b, t, c) = double(to_float(x_h(b, t, c))) * s * (1.0 + mod_h(b, c)) + mod_h(b, W + c);
    }
  EXPECT_TRUE(matches(Bk::download(ctx, out).view(), want.view(), reference::tolerance_for<T>(), "adaptive_rmsnorm"));
  auto inplace = Bk::upload(ctx, x_h);
  adaptive_rmsnorm(ctx, inplace, inplace, mv.slice(1, 0, W), mv.slice(1, W, 2 * W), {.eps = 1e-5f});
  EXPECT_TRUE(matches(Bk::download(ctx, inplace).view(), want.view(), reference::tolerance_for<T>(), "adaptive_rmsnorm in place"));
  expect_error([&] { adaptive_rmsnorm(ctx, out, x, mv.slice(1, 0, W - 1), mv.slice(1, W, 2 * W)); }, "must be [B, cols]");

  // y = r + gate[b] * (a w^T): the sublayer output GEMM with the gate of its batch entry.
  const auto a_h = random_tensor<T, 3>({B, Tn, K}, 53);
  const auto w_h = random_tensor<T, 2>({W, K}, 54);
  const auto a = Bk::upload(ctx, a_h);
  const auto w = Bk::upload(ctx, w_h);
  auto y = Bk::upload(ctx, x_h);
  gemm(ctx, y, a, transposed(w.view()), make_epilogue(epi::gated_residual(y, mv.slice(1, 2 * W, 3 * W))));
  HostTensor<double, 3> yw({B, Tn, W});
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < Tn; ++t)
      for (index_t c = 0; c < W; ++c) {
        double acc = 0;
        for (index_t k = 0; k < K; ++k) acc += double(to_float(a_h(b, t, k))) * double(to_float(w_h(c, k)));
        yw(b, t, c) = double(to_float(x_h(b, t, c))) + mod_h(b, 2 * W + c) * acc;
      }
  EXPECT_TRUE(matches(Bk::download(ctx, y).view(), yw.view(), {4 * unit_roundoff<T>(), 4 * K * unit_roundoff<T>()},
                      "gated residual GEMM"));
  expect_error([&] { gemm(ctx, y, a, transposed(w.view()), make_epilogue(epi::gated_residual(y, mv.slice(1, 0, W - 1)))); },
               "the gate is");
}

// ---- HF Gemma: 2 layers, hidden 64, 2 query heads / 1 KV head of 256, causal, 13 tokens ----
template <class Ctx, class T>
void hf_gemma_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  using S = typename Ctx::space;
  transformer::GemmaConfig cfg{.hidden = 64, .layers = 2, .heads = 2, .kv_heads = 1, .head_dim = 256, .mlp = 128};
  const transformer::SafeTensorsSource src(io::SafeTensors::open(transformer_data("gemma.safetensors")));
  const auto model = transformer::load_gemma<T>(ctx, cfg, src);
  const auto input = io::load_npy<float, 3>(transformer_data("gemma_input.npy"));
  const index_t n = input.size(1);
  auto x = Bk::upload(ctx, from_float<T>(input));  // transformers 5 passes inputs_embeds unscaled
  transformer::KVCache<T, S> cache(ctx, cfg.layers, 1, n + 3, cfg.kv_heads, cfg.head_dim);
  poison_cache(ctx, cache);
  const transformer::GemmaConfig cfgs[] = {cfg};
  transformer::DecoderScratch<T, S> scratch(ctx, 1, n, cfgs);
  HostTensor<std::int32_t, 2> pos_h({1, n});
  for (index_t i = 0; i < n; ++i) pos_h(0, i) = static_cast<std::int32_t>(i);
  const auto pos = Bk::upload(ctx, pos_h);
  const transformer::Segment<T, S> seg[] = {{&model, x.view()}};
  const transformer::StepAttention<S> at{.start = 0, .positions = pos.view(), .masks = {}, .causal = true};
  for (index_t l = 0; l < cfg.layers; ++l) {
    transformer::gemma_layer(ctx, l, std::span(seg), cache, at, scratch);
    const auto want = to_double(io::load_npy<float, 3>(transformer_data(fmt::format("gemma_layer{}.npy", l))));
    EXPECT_TRUE(matches(Bk::download(ctx, x).view(), want.view(), stream_tolerance<T>(max_abs(want)),
                        fmt::format("gemma layer {} ({})", l, dtype_of<T>)));
  }
  auto out = Bk::template poisoned<T, 2>(ctx, Shape<2>{n, cfg.hidden});
  transformer::gemma_final_norm(ctx, out, x.view().reshape(Shape<2>{n, cfg.hidden}), model);
  const auto want = to_double(io::load_npy<float, 3>(transformer_data("gemma_out.npy")));
  EXPECT_TRUE(matches(Bk::download(ctx, out).view(), want.view().reshape(Shape<2>{n, cfg.hidden}),
                      stream_tolerance<T>(max_abs(want)), fmt::format("gemma final norm ({})", dtype_of<T>)));
}

// ---- HF SigLIP: 2 layers, hidden 144 = 2 heads of 72, 56x56 images of 14x14 patches, batch 2 ----
template <class Ctx, class T>
void hf_siglip_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  using S = typename Ctx::space;
  transformer::SiglipConfig cfg{.hidden = 144, .layers = 2, .heads = 2, .head_dim = 72, .mlp = 176, .image = 56, .patch = 14};
  const transformer::SafeTensorsSource src(io::SafeTensors::open(transformer_data("siglip.safetensors")));
  const auto model = transformer::load_siglip<T>(ctx, cfg, src);
  const auto pixels = Bk::upload(ctx, io::load_npy<float, 4>(transformer_data("siglip_pixels.npy")));
  const index_t B = pixels.size(0);
  transformer::SiglipScratch<T, S> scratch(ctx, cfg, B);
  auto out = Bk::template poisoned<T, 3>(ctx, Shape<3>{B, cfg.patches(), cfg.hidden});
  transformer::siglip_forward(ctx, out, pixels, model, scratch);
  const auto want = to_double(io::load_npy<float, 3>(transformer_data("siglip_out.npy")));
  EXPECT_TRUE(matches(Bk::download(ctx, out).view(), want.view(), stream_tolerance<T>(max_abs(want)),
                      fmt::format("siglip ({})", dtype_of<T>)));
}

// ---- two experts, Pi0 block mask ----
struct JointSetup {
  transformer::GemmaConfig e0{.hidden = 64, .layers = 2, .heads = 4, .kv_heads = 2, .head_dim = 32, .mlp = 96};
  transformer::GemmaConfig e1{.hidden = 32, .layers = 2, .heads = 4, .kv_heads = 2, .head_dim = 32, .mlp = 48};
  transformer::RandomSource w0{11}, w1{12};
  index_t B = 2, n0 = 9, n1 = 5;  // prefix tokens; suffix = 1 state + 4 actions
};

// kv_end of the concatenated rows: prefix rows see the prefix, the state row also itself, actions all.
inline index_t pi0_kv_end(const JointSetup& s, index_t i) { return i < s.n0 ? s.n0 : i == s.n0 ? s.n0 + 1 : s.n0 + s.n1; }

template <class Ctx, class T>
void joint_attention_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  using S = typename Ctx::space;
  const JointSetup s;
  const index_t n = s.n0 + s.n1;
  const auto m0 = transformer::load_gemma<T>(ctx, s.e0, s.w0);
  const auto m1 = transformer::load_gemma<T>(ctx, s.e1, s.w1);
  const auto x0_h = random_tensor<T, 3>({s.B, s.n0, s.e0.hidden}, 71, -3, 3);
  const auto x1_h = random_tensor<T, 3>({s.B, s.n1, s.e1.hidden}, 72, -3, 3);
  HostTensor<std::int32_t, 2> pos_h({s.B, n}), end_h({s.B, n});
  for (index_t b = 0; b < s.B; ++b)
    for (index_t i = 0; i < n; ++i) pos_h(b, i) = static_cast<std::int32_t>(i + 3 * b), end_h(b, i) = pi0_kv_end(s, i);
  const transformer::GemmaConfig cfgs[] = {s.e0, s.e1};

  // float64 reference of the joint layer stack
  std::vector<HostTensor<double, 3>> xs;
  xs.push_back(to_double(x0_h));
  xs.push_back(to_double(x1_h));
  std::vector<std::vector<int>> pos(s.B);
  for (index_t b = 0; b < s.B; ++b)
    for (index_t i = 0; i < n; ++i) pos[b].push_back(pos_h(b, i));
  reference::gemma_joint({{&s.w0, "model.", s.e0}, {&s.w1, "model.", s.e1}}, xs, pos,
                         [&](index_t, index_t i, index_t j) { return j < pi0_kv_end(s, i); });

  // One joint call over both experts' tokens.
  auto x0 = Bk::upload(ctx, x0_h), x1 = Bk::upload(ctx, x1_h);
  const auto positions = Bk::upload(ctx, pos_h);
  const auto ends = Bk::upload(ctx, end_h);
  transformer::KVCache<T, S> cache(ctx, s.e0.layers, s.B, n + 2, s.e0.kv_heads, s.e0.head_dim);
  poison_cache(ctx, cache);
  transformer::DecoderScratch<T, S> scratch(ctx, s.B, n, cfgs);
  {
    const transformer::Segment<T, S> segs[] = {{&m0, x0.view()}, {&m1, x1.view()}};
    transformer::StepAttention<S> at{.start = 0, .positions = positions.view(), .masks = {}, .causal = false};
    at.masks.kv_end = ends.view();
    transformer::gemma_forward(ctx, std::span(segs), cache, at, scratch);
  }
  const auto joint0 = Bk::download(ctx, x0), joint1 = Bk::download(ctx, x1);
  EXPECT_TRUE(matches(joint0.view(), xs[0].view(), stream_tolerance<T>(max_abs(xs[0])), "joint: prefix expert"));
  EXPECT_TRUE(matches(joint1.view(), xs[1].view(), stream_tolerance<T>(max_abs(xs[1])), "joint: suffix expert"));

  // Prefix pass filling the cache, then the suffix pass against it (twice).
  poison_cache(ctx, cache);
  auto y0 = Bk::upload(ctx, x0_h);
  {
    const transformer::Segment<T, S> segs[] = {{&m0, y0.view()}};
    HostTensor<std::int32_t, 2> p0({s.B, s.n0});
    for (index_t b = 0; b < s.B; ++b)
      for (index_t i = 0; i < s.n0; ++i) p0(b, i) = pos_h(b, i);
    const auto p0d = Bk::upload(ctx, p0);
    const transformer::StepAttention<S> at0{.start = 0, .positions = p0d.view(), .masks = {}, .causal = false};
    transformer::gemma_forward(ctx, std::span(segs), cache, at0, scratch);
  }
  EXPECT_TRUE(matches(Bk::download(ctx, y0).view(), to_double(joint0).view(), stream_tolerance<T>(max_abs(xs[0])),
                      "cached: prefix pass vs joint"));
  HostTensor<std::int32_t, 2> p1({s.B, s.n1}), e1({s.B, s.n1});
  for (index_t b = 0; b < s.B; ++b)
    for (index_t i = 0; i < s.n1; ++i) p1(b, i) = pos_h(b, s.n0 + i), e1(b, i) = end_h(b, s.n0 + i);
  const auto p1d = Bk::upload(ctx, p1), e1d = Bk::upload(ctx, e1);
  HostTensor<T, 3> first;
  for (int step = 0; step < 2; ++step) {
    auto y1 = Bk::upload(ctx, x1_h);
    const transformer::Segment<T, S> segs[] = {{&m1, y1.view()}};
    transformer::StepAttention<S> at{.start = s.n0, .positions = p1d.view(), .masks = {}, .causal = false};
    at.masks.kv_end = e1d.view();
    transformer::gemma_forward(ctx, std::span(segs), cache, at, scratch);
    auto got = Bk::download(ctx, y1);
    EXPECT_TRUE(matches(got.view(), to_double(joint1).view(), stream_tolerance<T>(max_abs(xs[1])),
                        fmt::format("cached: suffix pass {} vs joint", step)));
    if (step == 0) first = std::move(got);
    else EXPECT_EQ(std::memcmp(first.data(), got.data(), got.bytes()), 0) << "the second suffix pass differs from the first";
  }
}

// ---- decode equals prefill (one expert, causal, GQA) ----
template <class Ctx, class T>
void decode_equals_prefill_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  using S = typename Ctx::space;
  const transformer::GemmaConfig cfg{.hidden = 48, .layers = 2, .heads = 4, .kv_heads = 2, .head_dim = 64, .mlp = 80};
  const transformer::RandomSource w(21);
  const auto model = transformer::load_gemma<T>(ctx, cfg, w);
  const index_t B = 2, n = 7;
  const auto x_h = random_tensor<T, 3>({B, n, cfg.hidden}, 81, -3, 3);
  const transformer::GemmaConfig cfgs[] = {cfg};
  transformer::DecoderScratch<T, S> scratch(ctx, B, n, cfgs);
  transformer::KVCache<T, S> cache(ctx, cfg.layers, B, n, cfg.kv_heads, cfg.head_dim);
  poison_cache(ctx, cache);
  HostTensor<std::int32_t, 2> pos_h({B, n});
  for (index_t b = 0; b < B; ++b)
    for (index_t i = 0; i < n; ++i) pos_h(b, i) = static_cast<std::int32_t>(i);
  const auto pos = Bk::upload(ctx, pos_h);
  auto x = Bk::upload(ctx, x_h);
  {
    const transformer::Segment<T, S> segs[] = {{&model, x.view()}};
    transformer::gemma_forward(ctx, std::span(segs), cache,
                               transformer::StepAttention<S>{.start = 0, .positions = pos.view(), .causal = true}, scratch);
  }
  const auto prefill = to_double(Bk::download(ctx, x));
  poison_cache(ctx, cache);
  HostTensor<T, 3> decoded({B, n, cfg.hidden});
  for (index_t i = 0; i < n; ++i) {
    HostTensor<T, 3> xi({B, 1, cfg.hidden});
    HostTensor<std::int32_t, 2> pi({B, 1});
    for (index_t b = 0; b < B; ++b) {
      for (index_t c = 0; c < cfg.hidden; ++c) xi(b, 0, c) = x_h(b, i, c);
      pi(b, 0) = static_cast<std::int32_t>(i);
    }
    auto xd = Bk::upload(ctx, xi);
    const auto pd = Bk::upload(ctx, pi);
    const transformer::Segment<T, S> segs[] = {{&model, xd.view()}};
    transformer::gemma_forward(ctx, std::span(segs), cache,
                               transformer::StepAttention<S>{.start = i, .positions = pd.view(), .causal = true}, scratch);
    const auto got = Bk::download(ctx, xd);
    for (index_t b = 0; b < B; ++b)
      for (index_t c = 0; c < cfg.hidden; ++c) decoded(b, i, c) = got(b, 0, c);
  }
  EXPECT_TRUE(matches(decoded.view(), prefill.view(), stream_tolerance<T>(max_abs(prefill)), "decode vs prefill"));
}

}  // namespace fusekit::test

namespace fusekit::test {

// ---- a Pi0-shaped policy at toy dimensions, against the float64 denoising loop ----
inline transformer::Pi0Config tiny_pi0() {
  transformer::Pi0Config c;
  c.vision = {.hidden = 32, .layers = 1, .heads = 2, .head_dim = 16, .mlp = 40, .image = 28, .patch = 14};
  c.prefix = {.hidden = 48, .layers = 2, .heads = 2, .kv_heads = 1, .head_dim = 16, .mlp = 64};
  c.expert = {.hidden = 32, .layers = 2, .heads = 2, .kv_heads = 1, .head_dim = 16, .mlp = 40};
  c.cameras = 2;
  c.lang_tokens = 3;
  c.vocab = 50;
  c.action_dim = 5;
  c.horizon = 4;
  c.steps = 3;
  return c;
}

template <class Ctx, class T>
void pi0_case(Ctx& ctx) {
  using Bk = Backend<Ctx>;
  using S = typename Ctx::space;
  const auto c = tiny_pi0();
  const transformer::RandomSource src(31);
  const auto w = transformer::load_pi0<T>(ctx, c, src);
  const index_t B = 2;
  transformer::Pi0Policy<T, S> policy(ctx, w, B);
  HostTensor<std::int32_t, 2> ids({B, c.lang_tokens});
  for (index_t i = 0; i < ids.numel(); ++i) ids.data()[i] = static_cast<std::int32_t>((7 * i + 3) % c.vocab);
  const auto state = random_tensor<float, 2>({B, c.action_dim}, 91);
  const auto noise = random_tensor<float, 3>({B, c.horizon, c.action_dim}, 92);
  const auto images = random_tensor<float, 4>(policy.images.shape(), 93, -1, 1);
  policy.set_inputs(ctx, images, ids, state, noise);
  // Bad inputs are refused with a message naming them.
  auto bad_ids = ids.clone();
  bad_ids(1, 2) = static_cast<std::int32_t>(c.vocab);
  expect_error([&] { policy.set_inputs(ctx, images, bad_ids, state, noise); }, "pi0: lang[1, 2] = 50 is outside the vocabulary");
  auto bad_state = state.clone();
  bad_state(0, 3) = std::numeric_limits<float>::infinity();
  expect_error([&] { policy.set_inputs(ctx, images, ids, bad_state, noise); }, "pi0: state holds a non-finite value at flat index 3");
  expect_error([&] { policy.set_inputs(ctx, images, ids, state.view().slice(1, 0, 2), noise); }, "pi0: state has shape [2, 2]");
  policy.embed_prefix(ctx);
  const auto prefix = to_double(fetch(ctx, policy.prefix_tokens()));
  // The language rows are the scaled embedding rows (the image rows are SigLIP + projector, checked
  // against HF through the SigLIP fixture).
  const auto table = src.tensor("paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight",
                                Shape<2>{c.vocab, c.prefix.hidden}, transformer::Init::normal);
  HostTensor<double, 3> lang_want({B, c.lang_tokens, c.prefix.hidden});
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < c.lang_tokens; ++t)
      for (index_t i = 0; i < c.prefix.hidden; ++i)
        lang_want(b, t, i) = to_float(convert<T>(table(ids(b, t), i))) * std::sqrt(double(c.prefix.hidden));
  HostTensor<double, 3> lang_got({B, c.lang_tokens, c.prefix.hidden});
  for (index_t b = 0; b < B; ++b)
    for (index_t t = 0; t < c.lang_tokens; ++t)
      for (index_t i = 0; i < c.prefix.hidden; ++i) lang_got(b, t, i) = prefix(b, c.image_tokens() + t, i);
  EXPECT_TRUE(matches(lang_got.view(), lang_want.view(), {2 * unit_roundoff<T>(), 0.0}, "pi0 language embeddings"));

  policy.prefill(ctx);
  policy.start(ctx);
  for (index_t k = 0; k < c.steps; ++k) policy.denoise_step(ctx, k);
  const auto got = Bk::download(ctx, policy.actions);
  HostTensor<double, 2> state_d = to_double(state);
  if constexpr (!std::is_same_v<T, float>)  // the policy rounds the state to T before its projection
    for (index_t i = 0; i < state_d.numel(); ++i) state_d.data()[i] = to_float(convert<T>(static_cast<float>(state_d.data()[i])));
  const auto want = reference::pi0_actions(c, src, prefix, state_d, to_double(noise));
  EXPECT_TRUE(matches(got.view(), want.view(), stream_tolerance<T>(4 * max_abs(want)), fmt::format("pi0 actions ({})", dtype_of<T>)));

  // Running the whole call again (as a graph replay would) gives the same actions.
  policy.run(ctx);
  const auto again = Bk::download(ctx, policy.actions);
  EXPECT_EQ(std::memcmp(again.data(), got.data(), got.bytes()), 0) << "a second run of the policy differs from the first";
}

}  // namespace fusekit::test
