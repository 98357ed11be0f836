#pragma once
// A Pi0-shaped policy (openpi's pi0): SigLIP over the camera images, PaliGemma's Gemma over the prefix
// (image tokens + language tokens) filling a KV cache, then flow-matching denoising with the action
// expert over the suffix (1 state token + `horizon` action tokens) attending to the cache:
//
//   prefix  = [projector(siglip(images)) | embed(lang) * sqrt(width)]        788 tokens at Pi0's dims
//   prefill = gemma_forward(prefix expert, slots [0, 788), bidirectional)    keys/values -> cache
//   x = noise; for k in 0..steps-1 (t = 1 - k / steps):
//     suffix = [state_proj(state) | mlp_out(swish(mlp_in([action_in(x) | time_emb(t)])))]
//     suffix = gemma_forward(action expert, slots [788, 799), Pi0 block mask) then its final norm
//     x = x - (1 / steps) * action_out(suffix[1:])                          Euler step in fp32
//
// The block mask is the kv_end form of openpi's ar_mask: the state row sees the prefix and itself,
// action rows see everything. Each denoising step rewrites the same cache slots [788, 799), so the
// whole call is a fixed sequence of launches that can be captured once as a graph and replayed.
// The time embedding's contribution through action_time_mlp_in (its second half of columns) is the same
// for every action token of a step: it is folded at load time into one bias row per step.
//
// On an NVIDIA sm_90a build with bf16 weights, batch 1 and the action expert's usual shape, the expert's
// layers of a denoising step run as one persistent kernel (DecodeStack, transformer/decode_stack.hpp)
// instead of gemma_forward's six launches a layer (0.72 against 0.76 ms a step on an H100:
// docs/performance.md); FUSEKIT_DECODE_STACK=0 in the environment keeps gemma_forward, and
// decode_stack() says which one runs.
//
// Weight names are openpi's PyTorch checkpoint names (models_pytorch/pi0_pytorch.py) under an
// optional prefix: paligemma_with_expert.paligemma.model.{vision_tower.vision_model., multi_modal_projector.
// linear, language_model.}, paligemma_with_expert.gemma_expert.model., state_proj, action_in_proj,
// action_time_mlp_in, action_time_mlp_out, action_out_proj.
#include <cmath>
#include <cstdlib>
#include <memory>
#include <numbers>
#include <span>
#include <string>
#include <vector>

#include "fusekit/ops/axpby.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/embedding.hpp"
#include "fusekit/transformer/gemma.hpp"
#include "fusekit/transformer/siglip.hpp"
#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
#include "fusekit/transformer/decode_stack.hpp"
#endif

namespace fusekit::transformer {

struct Pi0Config {
  SiglipConfig vision = SiglipConfig::so400m();
  GemmaConfig prefix = GemmaConfig::gemma_2b();  // PaliGemma's language model (expert 0)
  GemmaConfig expert = GemmaConfig::gemma_300m();  // the action expert (expert 1)
  index_t cameras = 3;
  index_t lang_tokens = 20;  // language tokens in the prefix (all valid)
  index_t vocab = 257152;    // PaliGemma's; random-weight runs may use fewer rows (the lookup cost is the same)
  index_t action_dim = 32;
  index_t horizon = 10;      // action tokens
  index_t steps = 10;        // denoising steps

  index_t image_tokens() const { return cameras * vision.patches(); }
  index_t prefix_len() const { return image_tokens() + lang_tokens; }
  index_t suffix_len() const { return 1 + horizon; }

  void check() const {
    vision.check("Pi0Config.vision");
    prefix.check("Pi0Config.prefix");
    expert.check("Pi0Config.expert");
    FUSEKIT_CHECK(prefix.heads == expert.heads && prefix.kv_heads == expert.kv_heads &&
                      prefix.head_dim == expert.head_dim && prefix.layers == expert.layers,
                  "Pi0Config: the prefix model and the action expert must share heads, head_dim and depth");
    FUSEKIT_CHECK(cameras > 0 && lang_tokens >= 0 && vocab > 0 && action_dim > 0 && horizon > 0 && steps > 0,
                  "Pi0Config: cameras, vocab, action_dim, horizon and steps must be positive");
  }
};

// openpi's create_sinusoidal_pos_embedding(t, dim, min_period 4e-3, max_period 4.0): [sin | cos].
inline std::vector<double> pi0_time_embedding(double t, index_t dim) {
  std::vector<double> e(static_cast<std::size_t>(dim));
  const index_t half = dim / 2;
  for (index_t i = 0; i < half; ++i) {
    const double fraction = half > 1 ? double(i) / double(half - 1) : 0.0;
    const double period = 4e-3 * std::pow(4.0 / 4e-3, fraction);
    const double x = t * 2.0 * std::numbers::pi / period;
    e[i] = std::sin(x);
    e[i + half] = std::cos(x);
  }
  return e;
}

template <class T, class Space>
struct Pi0Weights {
  Pi0Config cfg;
  Siglip<T, Space> vision;
  Linear<T, Space, true> projector;  // [prefix hidden, vision hidden]
  Tensor<T, 2, Space> embed;         // [vocab, prefix hidden]
  Gemma<T, Space> prefix, expert;
  Linear<T, Space, true> state_proj, action_in, time_mlp_out, action_out;
  Linear<T, Space, false> time_mlp_in;  // the action-token half of action_time_mlp_in: [width, width]
  Tensor<float, 2, Space> time_bias;    // [steps, width]: time_emb(t_k) W_time^T + b, per step
};

template <class T, class Ctx>
Pi0Weights<T, typename Ctx::space> load_pi0(Ctx& ctx, const Pi0Config& cfg, const WeightSource& src,
                                            const std::string& prefix = "") {
  cfg.check();
  Pi0Weights<T, typename Ctx::space> w;
  w.cfg = cfg;
  const std::string pg = prefix + "paligemma_with_expert.paligemma.model.";
  w.vision = load_siglip<T>(ctx, cfg.vision, src, pg + "vision_tower.vision_model.");
  w.projector = load_linear<T, true>(ctx, src, pg + "multi_modal_projector.linear", cfg.vision.hidden, cfg.prefix.hidden);
  w.embed = place<T>(ctx, src.tensor(pg + "language_model.embed_tokens.weight", Shape<2>{cfg.vocab, cfg.prefix.hidden},
                                     Init::normal));
  w.prefix = load_gemma<T>(ctx, cfg.prefix, src, pg + "language_model.");
  w.expert = load_gemma<T>(ctx, cfg.expert, src, prefix + "paligemma_with_expert.gemma_expert.model.");
  const index_t W = cfg.expert.hidden, A = cfg.action_dim;
  w.state_proj = load_linear<T, true>(ctx, src, prefix + "state_proj", A, W);
  w.action_in = load_linear<T, true>(ctx, src, prefix + "action_in_proj", A, W);
  w.time_mlp_out = load_linear<T, true>(ctx, src, prefix + "action_time_mlp_out", W, W);
  w.action_out = load_linear<T, true>(ctx, src, prefix + "action_out_proj", W, A);
  // action_time_mlp_in: [W, 2W] over [action tokens | time embedding].
  const auto mi = src.tensor(prefix + "action_time_mlp_in.weight", Shape<2>{W, 2 * W}, Init::fan_in);
  const auto mb = src.tensor(prefix + "action_time_mlp_in.bias", Shape<1>{W}, Init::small);
  HostTensor<float, 2> wa(Shape<2>{W, W});
  HostTensor<float, 2> tb(Shape<2>{cfg.steps, W});
  for (index_t o = 0; o < W; ++o)
    for (index_t i = 0; i < W; ++i) wa(o, i) = mi(o, i);
  for (index_t k = 0; k < cfg.steps; ++k) {
    const auto e = pi0_time_embedding(1.0 - double(k) / double(cfg.steps), W);
    for (index_t o = 0; o < W; ++o) {
      double acc = mb(o);
      for (index_t i = 0; i < W; ++i) acc += double(mi(o, W + i)) * e[i];
      tb(k, o) = static_cast<float>(acc);
    }
  }
  w.time_mlp_in.w = place<T>(ctx, wa);
  w.time_bias = place<float>(ctx, tb);
  return w;
}

// The inputs of one call, in the context's memory space (batch B):
//   images [B * cameras, 3, image, image] fp32 (SigLIP's [-1, 1] range), lang [B, lang_tokens] int32,
//   state [B, action_dim] fp32, noise [B, horizon, action_dim] fp32; actions out [B, horizon, action_dim] fp32.
template <class T, class Space>
class Pi0Policy {
 public:
  template <class Ctx>
  Pi0Policy(Ctx& ctx, const Pi0Weights<T, Space>& w, index_t batch) : w_(w), B_(batch) {
    const Pi0Config& c = w.cfg;
    const index_t P = c.prefix_len(), Sx = c.suffix_len(), H = c.horizon, A = c.action_dim;
    images = Tensor<float, 4, Space>({B_ * c.cameras, c.vision.channels, c.vision.image, c.vision.image}, ctx);
    lang = Tensor<std::int32_t, 2, Space>({B_, c.lang_tokens}, ctx);
    state = Tensor<float, 2, Space>({B_, A}, ctx);
    noise = Tensor<float, 3, Space>({B_, H, A}, ctx);
    actions = Tensor<float, 3, Space>({B_, H, A}, ctx);
    vis_ = Tensor<T, 3, Space>({B_ * c.cameras, c.vision.patches(), c.vision.hidden}, ctx);
    prefix_x_ = Tensor<T, 3, Space>({B_, P, c.prefix.hidden}, ctx);
    suffix_x_ = Tensor<T, 3, Space>({B_, Sx, c.expert.hidden}, ctx);
    suffix_n_ = Tensor<T, 2, Space>({B_ * Sx, c.expert.hidden}, ctx);
    state_t_ = Tensor<T, 2, Space>({B_, A}, ctx);
    x_t_ = Tensor<T, 2, Space>({B_ * H, A}, ctx);
    h1_ = Tensor<T, 2, Space>({B_ * H, c.expert.hidden}, ctx);
    h2_ = Tensor<T, 2, Space>({B_ * H, c.expert.hidden}, ctx);
    v_ = Tensor<float, 3, Space>({B_, H, A}, ctx);
    cache_ = KVCache<T, Space>(ctx, c.prefix.layers, B_, P + Sx, c.prefix.kv_heads, c.prefix.head_dim);
    const GemmaConfig cfgs[] = {c.prefix, c.expert};
    scratch_ = DecoderScratch<T, Space>(ctx, B_, P, cfgs);
    vscratch_ = SiglipScratch<T, Space>(ctx, c.vision, B_ * c.cameras);
    HostTensor<std::int32_t, 2> pp({B_, P}), sp({B_, Sx}), se({B_, Sx});
    for (index_t b = 0; b < B_; ++b) {
      for (index_t i = 0; i < P; ++i) pp(b, i) = static_cast<std::int32_t>(i);
      for (index_t i = 0; i < Sx; ++i) {
        sp(b, i) = static_cast<std::int32_t>(P + i);
        se(b, i) = static_cast<std::int32_t>(i == 0 ? P + 1 : P + Sx);  // state: prefix + itself; actions: all
      }
    }
    prefix_pos_ = place_int(ctx, pp);
    suffix_pos_ = place_int(ctx, sp);
    suffix_end_ = place_int(ctx, se);
#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
    if constexpr (std::is_same_v<T, bfloat16> && std::is_same_v<Space, DeviceSpace>) {
      const char* env = std::getenv("FUSEKIT_DECODE_STACK");
      const bool wanted = env == nullptr || std::string(env) != "0";
      if (wanted && DecodeStack::unsupported(c.expert, B_, Sx, ctx.device()).empty())
        stack_ = std::make_unique<DecodeStack>(ctx, w_.expert, cache_, Sx, P + Sx);
    }
#endif
  }

  // Whether the denoising steps run the action expert as one persistent kernel (DecodeStack).
  bool decode_stack() const {
#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
    return stack_ != nullptr;
#else
    return false;
#endif
  }

  index_t batch() const { return B_; }

  // Checks host inputs (shapes, token ids, finite values) and copies them into the input tensors:
  // images [B * cameras, 3, image, image], lang [B, lang_tokens], state [B, action_dim],
  // noise [B, horizon, action_dim]. (Writing the tensors directly skips the checks; on the GPU a bad
  // token id then shows up as NaN actions.)
  template <Context Ctx>
  void set_inputs(Ctx& ctx, const HostView<const float, 4>& img, const HostView<const std::int32_t, 2>& ids,
                  const HostView<const float, 2>& st, const HostView<const float, 3>& nz) {
    const Pi0Config& c = w_.cfg;
    auto check = [](const char* what, const auto& got, const auto& want) {
      FUSEKIT_CHECK(got == want, "pi0: {} has shape {}, expected {}", what, got, want);
    };
    check("images", img.shape(), images.shape());
    check("lang", ids.shape(), lang.shape());
    check("state", st.shape(), state.shape());
    check("noise", nz.shape(), noise.shape());
    for (index_t b = 0; b < ids.size(0); ++b)
      for (index_t t = 0; t < ids.size(1); ++t)
        FUSEKIT_CHECK(ids(b, t) >= 0 && ids(b, t) < c.vocab, "pi0: lang[{}, {}] = {} is outside the vocabulary [0, {})", b, t,
                      ids(b, t), c.vocab);
    auto finite = [](const char* what, const auto& v) {
      const auto d = dense(v);
      for (index_t i = 0; i < d.numel(); ++i)
        FUSEKIT_CHECK(std::isfinite(d.data()[i]), "pi0: {} holds a non-finite value at flat index {}", what, i);
    };
    finite("images", img);
    finite("state", st);
    finite("noise", nz);
    put(ctx, images, img);
    put(ctx, lang, ids);
    put(ctx, state, st);
    put(ctx, noise, nz);
  }
  const Pi0Config& config() const { return w_.cfg; }

  // Stage 1: SigLIP over every camera image, projected into the prefix's image rows; the language
  // tokens' embeddings (scaled by sqrt(width), as Gemma does) into the rows after them.
  template <Context Ctx>
  void embed_prefix(Ctx& ctx) {
    const Pi0Config& c = w_.cfg;
    siglip_forward(ctx, vis_, images, w_.vision, vscratch_);
    const index_t Ni = c.image_tokens(), Wp = c.prefix.hidden, P = c.prefix_len();
    linear(ctx, TensorView<T, 3, Space>(prefix_x_.data(), {B_, Ni, Wp}, {P * Wp, Wp, 1}),
           TensorView<const T, 3, Space>(vis_.data(), {B_, Ni, c.vision.hidden}), w_.projector);
    for (index_t b = 0; b < B_; ++b)
      embedding(ctx, TensorView<T, 2, Space>(prefix_x_.data() + (b * P + Ni) * Wp, {c.lang_tokens, Wp}), w_.embed,
                lang.view().slice(0, b, b + 1).reshape(Shape<1>{c.lang_tokens}), std::sqrt(double(Wp)));
  }

  // Stage 2: the prefix model over the whole prefix (bidirectional), filling the KV cache. Nothing reads
  // the prefix tokens' outputs, so the last layer stops after writing its keys and values.
  template <Context Ctx>
  void prefill(Ctx& ctx) {
    const Segment<T, Space> segs[] = {{&w_.prefix, prefix_x_.view()}};
    gemma_forward(ctx, std::span(segs), cache_, StepAttention<Space>{.start = 0, .positions = prefix_pos_.view()}, scratch_,
                  true);
  }

  // The prefix tokens [B, prefix_len, width]: embed_prefix's output until prefill runs the layers over them.
  TensorView<const T, 3, Space> prefix_tokens() const { return prefix_x_.view(); }

  // Stage 3, step k of `steps`: one Euler step of the flow (actions holds x_t; start() copies the noise in).
  template <Context Ctx>
  void start(Ctx& ctx) {
    copy(ctx, actions, noise);
    copy(ctx, state_t_, state);
  }

  template <Context Ctx>
  void denoise_step(Ctx& ctx, index_t k) {
    const Pi0Config& c = w_.cfg;
    FUSEKIT_CHECK(k >= 0 && k < c.steps, "pi0: denoising step {} outside [0, {})", k, c.steps);
    const index_t P = c.prefix_len(), Sx = c.suffix_len(), H = c.horizon, A = c.action_dim, W = c.expert.hidden;
    // Suffix tokens: the state token in row 0, the action tokens in rows 1..H.
    linear(ctx, TensorView<T, 2, Space>(suffix_x_.data(), {B_, W}, {Sx * W, 1}), state_t_, w_.state_proj);
    copy(ctx, x_t_, actions.view().reshape(Shape<2>{B_ * H, A}));
    linear(ctx, h1_, x_t_, w_.action_in);
    const auto bias = TensorView<const float, 1, Space>(w_.time_bias.data() + k * W, {W});
    linear(ctx, h2_, h1_, w_.time_mlp_in, epi::bias(bias), epi::activation(act::Silu{}));
    linear(ctx, TensorView<T, 3, Space>(suffix_x_.data() + W, {B_, H, W}, {Sx * W, W, 1}),
           h2_.view().reshape(Shape<3>{B_, H, W}), w_.time_mlp_out);
    // The action expert against the cached prefix, then its final norm and the velocity.
    const Segment<T, Space> segs[] = {{&w_.expert, suffix_x_.view()}};
    StepAttention<Space> at{.start = P, .positions = suffix_pos_.view()};
    at.masks.kv_end = suffix_end_.view();
#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
    if constexpr (std::is_same_v<T, bfloat16> && std::is_same_v<Space, DeviceSpace>)
      if (stack_) stack_->run(ctx, suffix_x_.view(), at);
    if (!decode_stack())
#endif
      gemma_forward(ctx, std::span(segs), cache_, at, scratch_);
    gemma_final_norm(ctx, suffix_n_, suffix_x_.view().reshape(Shape<2>{B_ * Sx, W}), w_.expert);
    linear(ctx, v_, TensorView<const T, 3, Space>(suffix_n_.data() + W, {B_, H, W}, {Sx * W, W, 1}), w_.action_out);
    axpby(ctx, actions, actions, v_, 1.0, -1.0 / double(c.steps));
  }

  // The whole call: prefix embeddings, prefill, start, every denoising step.
  template <Context Ctx>
  void run(Ctx& ctx) {
    embed_prefix(ctx);
    prefill(ctx);
    start(ctx);
    for (index_t k = 0; k < w_.cfg.steps; ++k) denoise_step(ctx, k);
  }

  Tensor<std::int32_t, 2, Space> lang;
  Tensor<float, 2, Space> state;
  Tensor<float, 3, Space> noise;
  Tensor<float, 3, Space> actions;

 private:
  // A contiguous copy of a host view (any strides).
  template <class U, std::size_t R>
  static HostTensor<U, R> dense(const HostView<const U, R>& v) {
    HostTensor<U, R> t(v.shape());
    for (index_t i = 0; i < t.numel(); ++i) {
      index_t rem = i, off = 0;
      for (std::size_t k = R; k-- > 0;) off += (rem % v.size(k)) * v.stride(k), rem /= v.size(k);
      t.data()[i] = v.data()[off];
    }
    return t;
  }

  template <class Ctx, class U, std::size_t R>
  static void put(Ctx& ctx, Tensor<U, R, Space>& dst, const HostView<const U, R>& src) {
    if constexpr (std::is_same_v<Space, HostSpace>) {
      (void)ctx;
      dst = dense(src);
    } else {
#if FUSEKIT_GPUCC
      dst = to_device(ctx, dense(src));
#endif
    }
  }

  template <class Ctx>
  static Tensor<std::int32_t, 2, Space> place_int(Ctx& ctx, const HostTensor<std::int32_t, 2>& h) {
    if constexpr (std::is_same_v<Space, HostSpace>) {
      (void)ctx;
      return h.clone();
    } else {
#if FUSEKIT_GPUCC
      return to_device(ctx, h);
#endif
    }
  }

  const Pi0Weights<T, Space>& w_;
  index_t B_;
  Tensor<T, 3, Space> vis_, prefix_x_, suffix_x_;
  Tensor<T, 2, Space> suffix_n_, state_t_, x_t_, h1_, h2_;
  Tensor<float, 3, Space> v_;
  Tensor<std::int32_t, 2, Space> prefix_pos_, suffix_pos_, suffix_end_;
  KVCache<T, Space> cache_;
  DecoderScratch<T, Space> scratch_;
  SiglipScratch<T, Space> vscratch_;
#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
  std::unique_ptr<DecodeStack> stack_;
#endif

 public:
  // (Declared last: hipcc's clang 15 crashes on a class with a rank-4 tensor before a rank-2 one.)
  Tensor<float, 4, Space> images;
};

}  // namespace fusekit::transformer
