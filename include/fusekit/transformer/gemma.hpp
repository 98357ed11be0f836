#pragma once
// Gemma decoder layers (HF GemmaDecoderLayer), for one model or several "experts" attending jointly
// (Pi0's mixture of transformers: each token range has its own weights, one attention over the
// concatenated sequence). Per layer and expert:
//
//   qkv = rmsnorm(x) [Wq | Wk | Wv]^T              one GEMM per expert into a shared [tokens, Q|K|V] buffer,
//                                                  the norm as its prologue: (1 + w) folded into the weight
//                                                  at load, the rows' fp32 rsqrt applied by the GEMM
//   rope(q), rope(k) and k, v -> KV cache          the Q|K|V GEMM's epilogue (slots [start, start + n))
//   a = attention(q, cache[0, start + n))          one call for all experts; mask chosen by the caller
//   x = x + a Wo^T                                 residual fused into the GEMM epilogue
//   xn = rmsnorm(x) * (1 + w)                      the prologue of the gate|up GEMM
//   x = x + (gelu_tanh(xn Wg^T) * xn Wu^T) Wd^T    gate|up one GEMM with the gate fused; down + residual
//
// Prefill and decode are the same call: prefill writes slots [0, n) and attends to them, a decode step
// writes [start, start + n) and attends to everything before too. The caller's masks say what each row
// sees (causal for a language model; kv_end rows for Pi0's block mask).
#include <span>
#include <string>
#include <vector>

#include "fusekit/ops/attention.hpp"
#include "fusekit/ops/rmsnorm.hpp"
#include "fusekit/ops/rope.hpp"
#include "fusekit/transformer/config.hpp"
#include "fusekit/transformer/kv_cache.hpp"
#include "fusekit/transformer/linear.hpp"

namespace fusekit::transformer {

template <class T, class Space>
struct GemmaLayer {
  Linear<T, Space> qkv;      // [Hq D + 2 Hkv D, hidden], the input norm's (1 + w) folded in (fold_norm_weight)
  Linear<T, Space> o;        // [hidden, Hq D]
  Linear<T, Space> gate_up;  // [2 mlp, hidden]: gate rows, then up rows; the post-attention norm's (1 + w) folded in
  Linear<T, Space> down;     // [hidden, mlp]
};

template <class T, class Space>
struct Gemma {
  GemmaConfig cfg;
  std::vector<GemmaLayer<T, Space>> layers;
  Tensor<float, 1, Space> final_norm;
};

// HF names under `prefix`: {prefix}layers.N.self_attn.q_proj.weight, ..., {prefix}norm.weight.
template <class T, class Ctx>
Gemma<T, typename Ctx::space> load_gemma(Ctx& ctx, const GemmaConfig& cfg, const WeightSource& src,
                                         const std::string& prefix = "model.") {
  cfg.check();
  Gemma<T, typename Ctx::space> g;
  g.cfg = cfg;
  const index_t H = cfg.hidden;
  for (index_t l = 0; l < cfg.layers; ++l) {
    const std::string p = fmt::format("{}layers.{}.", prefix, l);
    GemmaLayer<T, typename Ctx::space> L;
    // The RMSNorms' (1 + w) go into the columns of the projections after them: gemma_layer's GEMMs apply
    // only the rows' rsqrt (gemm_rmsnorm with norm_weight_folded), which the decode kernel does for free.
    const HostTensor<float, 1> input_norm = src.tensor(p + "input_layernorm.weight", Shape<1>{H}, Init::small);
    const HostTensor<float, 1> post_norm = src.tensor(p + "post_attention_layernorm.weight", Shape<1>{H}, Init::small);
    // q and k rows in the interleaved RoPE order: the Q|K|V GEMM turns them in its epilogue (gemma_layer)
    L.qkv = load_linear<T, false>(ctx, src, {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, H,
                                  {cfg.q_width(), cfg.kv_width(), cfg.kv_width()},
                                  RopeRows{0, cfg.q_width() + cfg.kv_width(), cfg.head_dim}, FoldedNorm{&input_norm, 1.f});
    L.o = load_linear<T, false>(ctx, src, p + "self_attn.o_proj", cfg.q_width(), H);
    L.gate_up = load_linear<T, false>(ctx, src, {p + "mlp.gate_proj", p + "mlp.up_proj"}, H, {cfg.mlp, cfg.mlp}, {},
                                      FoldedNorm{&post_norm, 1.f});
    L.down = load_linear<T, false>(ctx, src, p + "mlp.down_proj", cfg.mlp, H);
    g.layers.push_back(std::move(L));
  }
  g.final_norm = place<float>(ctx, src.tensor(prefix + "norm.weight", Shape<1>{H}, Init::small));
  return g;
}

// One expert's tokens in a joint step: x [B, n, hidden] (contiguous), updated in place.
template <class T, class Space>
struct Segment {
  const Gemma<T, Space>* model;
  TensorView<T, 3, Space> x;
};

// What the new tokens of a step attend to. Keys [0, start + n) of the cache; positions [B, n] int32 for
// RoPE; masks and causal as in ops/attention.hpp (kv_end rows count keys from cache slot 0).
template <class Space>
struct StepAttention {
  index_t start = 0;
  TensorView<const std::int32_t, 2, Space> positions;
  AttentionMasks<Space> masks{};
  bool causal = false;
};

// Activation buffers for steps of up to `tokens` new tokens per batch entry, allocated once (a step
// allocates nothing, so it can be captured in a graph).
template <class T, class Space>
struct DecoderScratch {
  DecoderScratch() = default;
  template <class Ctx>
  DecoderScratch(Ctx& ctx, index_t batch, index_t tokens, std::span<const GemmaConfig> experts) {
    FUSEKIT_CHECK(!experts.empty(), "DecoderScratch: no expert configurations");
    index_t hidden = 0, mlp = 0;
    for (const auto& c : experts) hidden = std::max(hidden, c.hidden), mlp = std::max(mlp, c.mlp);
    const index_t rows = batch * tokens;
    xn = Tensor<T, 2, Space>({rows, hidden}, ctx);
    qkv = Tensor<T, 2, Space>({rows, experts[0].qkv_width()}, ctx);
    attn = Tensor<T, 2, Space>({rows, experts[0].q_width()}, ctx);
    h = Tensor<T, 2, Space>({rows, mlp}, ctx);
    this->batch = batch;
    this->tokens = tokens;
  }
  Tensor<T, 2, Space> xn, qkv, attn, h;  // xn: the normalised rows where the norm is not fused into a GEMM
  index_t batch = 0, tokens = 0;
};

namespace detail {

// x [B, n, hidden] (checked dense by check_step) as [B * n, hidden] rows.
template <class T, class Space>
TensorView<T, 2, Space> token_rows(const TensorView<T, 3, Space>& x) {
  return TensorView<T, 2, Space>(x.data(), {x.size(0) * x.size(1), x.size(2)});
}

template <class T, class Space>
void check_step(std::span<const Segment<T, Space>> segs, const KVCache<T, Space>& cache, const StepAttention<Space>& at,
                const DecoderScratch<T, Space>& scratch, index_t n) {
  FUSEKIT_CHECK(!segs.empty(), "gemma: a step needs at least one segment of tokens");
  const GemmaConfig& c0 = segs[0].model->cfg;
  const index_t B = segs[0].x.size(0);
  for (const auto& s : segs) {
    const GemmaConfig& c = s.model->cfg;
    FUSEKIT_CHECK(c.heads == c0.heads && c.kv_heads == c0.kv_heads && c.head_dim == c0.head_dim &&
                      c.layers == c0.layers && c.rope_theta == c0.rope_theta,
                  "gemma: experts attending jointly need one head layout, depth and RoPE base ({}x{}/{} heads, {} layers "
                  "vs {}x{}/{}, {})", c.heads, c.head_dim, c.kv_heads, c.layers, c0.heads, c0.head_dim, c0.kv_heads,
                  c0.layers);
    const auto& x = s.x;
    const bool dense = x.stride(2) == 1 && x.stride(1) == c.hidden && (B == 1 || x.stride(0) == x.size(1) * c.hidden);
    FUSEKIT_CHECK(x.size(0) == B && x.size(2) == c.hidden && dense,
                  "gemma: a segment's x must be a dense [batch {}, tokens, hidden {}] tensor, got {} (strides {})", B,
                  c.hidden, x.shape(), x.strides());
  }
  FUSEKIT_CHECK(cache.layers() == c0.layers && cache.batch() == B && cache.kv_heads() == c0.kv_heads &&
                    cache.head_dim() == c0.head_dim,
                "gemma: the KV cache [{} layers, batch {}, {} KV heads of {}] does not fit the model [{}, {}, {}, {}]",
                cache.layers(), cache.batch(), cache.kv_heads(), cache.head_dim(), c0.layers, B, c0.kv_heads, c0.head_dim);
  FUSEKIT_CHECK(at.start >= 0 && at.start + n <= cache.capacity(),
                "gemma: {} new tokens at slot {} do not fit a KV cache of capacity {}", n, at.start, cache.capacity());
  FUSEKIT_CHECK(at.positions.size(0) == B && at.positions.size(1) == n,
                "gemma: positions has shape {} but the step has batch {} and {} new tokens", at.positions.shape(), B, n);
  FUSEKIT_CHECK(scratch.batch >= B && scratch.tokens * scratch.batch >= B * n && scratch.qkv.size(1) == c0.qkv_width(),
                "gemma: the scratch buffers (batch {}, {} tokens) are too small for batch {} x {} tokens", scratch.batch,
                scratch.tokens, B, n);
}

}  // namespace detail

// One decoder layer for every segment, tokens in segment order.
// cache_only: stop after writing this layer's keys and values (a prefill whose last-layer outputs nobody
// reads: Pi0's prefix); x is left as the layer's input.
template <Context Ctx, class T, class Space, std::size_t E>
void gemma_layer(Ctx& ctx, index_t layer, std::span<const Segment<T, Space>, E> segs_e, KVCache<T, Space>& cache,
                 const StepAttention<Space>& at, DecoderScratch<T, Space>& scratch, bool cache_only = false) {
  const std::span<const Segment<T, Space>> segs(segs_e);
  index_t n = 0;
  for (const auto& s : segs) n += s.x.size(1);
  detail::check_step(segs, cache, at, scratch, n);
  const GemmaConfig& c = segs[0].model->cfg;
  const index_t B = segs[0].x.size(0), W = c.qkv_width(), Hq = c.heads, Hkv = c.kv_heads, D = c.head_dim;
  T* qkv = scratch.qkv.data();
  T* attn = scratch.attn.data();
  const RmsNormOptions norm{.eps = c.eps};  // (the weights and their unit offset are folded: load_gemma)

  // Q|K|V of every segment into rows [off, off + n_e) of the shared buffer, in one GEMM each whose
  // epilogue turns q and k (RoPE at the tokens' positions; the weights hold q and k rows in the
  // interleaved order, see load_gemma) and also stores k and v into the tokens' cache slots.
  auto kc = cache.k(layer), vc = cache.v(layer);
  const RopeOptions rope{.base = c.rope_theta, .layout = RopeLayout::interleaved};
  index_t off = 0;
  for (const auto& s : segs) {
    const GemmaLayer<T, Space>& L = s.model->layers[layer];
    const index_t ne = s.x.size(1);
    if (ne == 0) continue;
    const index_t slot = at.start + off;
    linear_rmsnorm(ctx, TensorView<T, 3, Space>(qkv + off * W, {B, ne, W}, {n * W, W, 1}), s.x, norm_weight_folded, norm,
                   scratch.xn, L.qkv, epi::rope(at.positions.slice(1, off, off + ne), D, 0, (Hq + Hkv) * D, rope),
                   epi::store_heads(kc.slice(1, slot, slot + ne), Hq * D),
                   epi::store_heads(vc.slice(1, slot, slot + ne), (Hq + Hkv) * D));
    off += ne;
  }

  if (cache_only) return;

  // One attention over all new rows against cache keys [0, start + n).
  const index_t kv = at.start + n;
  attention(ctx, TensorView<T, 4, Space>(attn, {B, n, Hq, D}),
            TensorView<const T, 4, Space>(qkv, {B, n, Hq, D}, {n * W, W, D, 1}),
            kc.as_const().slice(1, 0, kv), vc.as_const().slice(1, 0, kv), at.masks, AttentionOptions{.causal = at.causal});

  // Output projection + residual, then the MLP, per segment.
  off = 0;
  for (const auto& s : segs) {
    const GemmaLayer<T, Space>& L = s.model->layers[layer];
    const index_t ne = s.x.size(1), mlp = s.model->cfg.mlp;
    if (ne == 0) continue;
    const TensorView<const T, 3, Space> a(attn + off * Hq * D, {B, ne, Hq * D}, {n * Hq * D, Hq * D, 1});
    linear(ctx, s.x, a, L.o, epi::residual(s.x));
    TensorView<T, 2, Space> h(scratch.h.data(), {B * ne, mlp});
    linear_rmsnorm(ctx, h, detail::token_rows(s.x), norm_weight_folded, norm, scratch.xn, L.gate_up,
                   epi::gate(GateLayout::concatenated, act::GeluTanh{}));
    linear(ctx, detail::token_rows(s.x), h, L.down, epi::residual(detail::token_rows(s.x)));
    off += ne;
  }
}

// Every layer of the stack(s). cache_only_last: the last layer only writes its keys and values (x then
// holds the last layer's input, not the stack's output).
template <Context Ctx, class T, class Space, std::size_t E>
void gemma_forward(Ctx& ctx, std::span<const Segment<T, Space>, E> segs, KVCache<T, Space>& cache,
                   const StepAttention<Space>& at, DecoderScratch<T, Space>& scratch, bool cache_only_last = false) {
  FUSEKIT_CHECK(!segs.empty(), "gemma: a step needs at least one segment of tokens");
  const index_t L = segs[0].model->cfg.layers;
  for (index_t l = 0; l < L; ++l) gemma_layer(ctx, l, segs, cache, at, scratch, cache_only_last && l == L - 1);
}

// The final RMSNorm: out [rows, hidden] = rmsnorm(x) * (1 + w).
template <Context Ctx, TensorLike Out, TensorLike X, class T, class Space>
void gemma_final_norm(Ctx& ctx, Out&& out, const X& x, const Gemma<T, Space>& model) {
  rmsnorm(ctx, out, x, model.final_norm, RmsNormOptions{.eps = model.cfg.eps, .unit_offset = true});
}

}  // namespace fusekit::transformer
