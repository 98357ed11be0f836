#pragma once
// SigLIP vision encoder (HF SiglipVisionTransformer without the pooling head, as Pi0 uses it):
//
//   patches = the image cut into P x P tiles, each flattened (c, ky, kx)   one strided copy (+ cast)
//   x = patches Wp^T + b + pos                     the 14x14 stride-14 conv as one GEMM; bias and the
//                                                  learned position embedding fused into its epilogue
//   per layer:
//     xn = layernorm(x)
//     qkv = xn [Wq | Wk | Wv]^T + b                one GEMM, bias fused
//     a = attention(q, k, v)                       bidirectional, head_dim 72 (not padded in memory)
//     x = x + a Wo^T + b                           bias + residual fused
//     xn = layernorm(x)
//     x = x + gelu_tanh(xn W1^T + b1) W2^T + b2    activation and bias+residual fused
//   out = layernorm(x)                             post_layernorm
#include <string>
#include <vector>

#include "fusekit/ops/attention.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/layernorm.hpp"
#include "fusekit/transformer/config.hpp"
#include "fusekit/transformer/linear.hpp"

namespace fusekit::transformer {

template <class T, class Space>
struct SiglipLayer {
  Tensor<float, 1, Space> ln1_w, ln1_b, ln2_w, ln2_b;
  Linear<T, Space, true> qkv, o, fc1, fc2;
};

template <class T, class Space>
struct Siglip {
  SiglipConfig cfg;
  Linear<T, Space, true> patch;  // [hidden, C P P]: the conv kernel [hidden, C, P, P] flattened
  Tensor<T, 2, Space> pos;       // [patches, hidden]
  std::vector<SiglipLayer<T, Space>> layers;
  Tensor<float, 1, Space> post_w, post_b;
};

// HF names under `prefix`: {prefix}embeddings.patch_embedding.weight, {prefix}encoder.layers.N..., ...
template <class T, class Ctx>
Siglip<T, typename Ctx::space> load_siglip(Ctx& ctx, const SiglipConfig& cfg, const WeightSource& src,
                                           const std::string& prefix = "vision_model.") {
  cfg.check();
  using S = typename Ctx::space;
  Siglip<T, S> m;
  m.cfg = cfg;
  const index_t H = cfg.hidden;
  {
    const std::string p = prefix + "embeddings.";
    const auto w = src.tensor(p + "patch_embedding.weight", Shape<4>{H, cfg.channels, cfg.patch, cfg.patch}, Init::fan_in);
    HostTensor<float, 2> flat(Shape<2>{H, cfg.patch_dim()});  // (c, ky, kx) flattened, as the patches are
    std::copy(w.data(), w.data() + w.numel(), flat.data());
    m.patch.w = place<T>(ctx, flat);
    m.patch.b = place<float>(ctx, src.tensor(p + "patch_embedding.bias", Shape<1>{H}, Init::small));
    m.pos = place<T>(ctx, src.tensor(p + "position_embedding.weight", Shape<2>{cfg.patches(), H}, Init::small));
  }
  auto vec = [&](const std::string& name, Init init) { return place<float>(ctx, src.tensor(name, Shape<1>{H}, init)); };
  for (index_t l = 0; l < cfg.layers; ++l) {
    const std::string p = fmt::format("{}encoder.layers.{}.", prefix, l);
    SiglipLayer<T, S> L;
    L.ln1_w = vec(p + "layer_norm1.weight", Init::one);
    L.ln1_b = vec(p + "layer_norm1.bias", Init::small);
    L.ln2_w = vec(p + "layer_norm2.weight", Init::one);
    L.ln2_b = vec(p + "layer_norm2.bias", Init::small);
    L.qkv = load_linear<T, true>(ctx, src, {p + "self_attn.q_proj", p + "self_attn.k_proj", p + "self_attn.v_proj"}, H,
                                 {H, H, H});
    L.o = load_linear<T, true>(ctx, src, p + "self_attn.out_proj", H, H);
    L.fc1 = load_linear<T, true>(ctx, src, p + "mlp.fc1", H, cfg.mlp);
    L.fc2 = load_linear<T, true>(ctx, src, p + "mlp.fc2", cfg.mlp, H);
    m.layers.push_back(std::move(L));
  }
  m.post_w = vec(prefix + "post_layernorm.weight", Init::one);
  m.post_b = vec(prefix + "post_layernorm.bias", Init::small);
  return m;
}

// Activation buffers for up to `images` images, allocated once.
template <class T, class Space>
struct SiglipScratch {
  SiglipScratch() = default;
  template <class Ctx>
  SiglipScratch(Ctx& ctx, const SiglipConfig& cfg, index_t images) : images(images) {
    const index_t rows = images * cfg.patches();
    patches = Tensor<T, 2, Space>({rows, cfg.patch_dim()}, ctx);
    x = Tensor<T, 2, Space>({rows, cfg.hidden}, ctx);
    xn = Tensor<T, 2, Space>({rows, cfg.hidden}, ctx);
    qkv = Tensor<T, 2, Space>({rows, 3 * cfg.hidden}, ctx);
    attn = Tensor<T, 2, Space>({rows, cfg.hidden}, ctx);
    h = Tensor<T, 2, Space>({rows, cfg.mlp}, ctx);
  }
  Tensor<T, 2, Space> patches, x, xn, qkv, attn, h;
  index_t images = 0;
};

// One encoder layer over x [B * patches, hidden] (updated in place).
template <Context Ctx, class T, class Space>
void siglip_layer(Ctx& ctx, const TensorView<T, 2, Space>& x, const SiglipLayer<T, Space>& L, const SiglipConfig& c, index_t B,
                  SiglipScratch<T, Space>& s) {
  const index_t N = c.patches(), H = c.hidden, rows = B * N, Dh = c.head_dim, nh = c.heads;
  FUSEKIT_CHECK(x.size(0) == rows && x.size(1) == H && B <= s.images,
                "siglip: x has shape {} for {} images of {} patches x {} (scratch for {} images)", x.shape(), B, N, H, s.images);
  const LayerNormOptions ln{.eps = c.eps};
  TensorView<T, 2, Space> xn(s.xn.data(), {rows, H}), h(s.h.data(), {rows, c.mlp});
  linear_layernorm(ctx, TensorView<T, 2, Space>(s.qkv.data(), {rows, 3 * H}), x, L.ln1_w, L.ln1_b, ln, xn, L.qkv);
  const T* q = s.qkv.data();
  const Strides<4> st{N * 3 * H, 3 * H, Dh, 1};
  attention(ctx, TensorView<T, 4, Space>(s.attn.data(), {B, N, nh, Dh}), TensorView<const T, 4, Space>(q, {B, N, nh, Dh}, st),
            TensorView<const T, 4, Space>(q + H, {B, N, nh, Dh}, st), TensorView<const T, 4, Space>(q + 2 * H, {B, N, nh, Dh}, st));
  linear(ctx, x, TensorView<const T, 2, Space>(s.attn.data(), {rows, H}), L.o, epi::residual(x));
  linear_layernorm(ctx, h, x, L.ln2_w, L.ln2_b, ln, xn, L.fc1, epi::activation(act::GeluTanh{}));
  linear(ctx, x, h, L.fc2, epi::residual(x));
}

// out [B, patches, hidden] = the encoder over pixels [B, C, image, image] (any float dtype, e.g. fp32
// pixels into a bf16 model: the patch copy casts).
template <Context Ctx, TensorLike Out, TensorLike Px, class T, class Space>
void siglip_forward(Ctx& ctx, Out&& out, const Px& pixels, const Siglip<T, Space>& m, SiglipScratch<T, Space>& s) {
  const SiglipConfig& c = m.cfg;
  const auto px = pixels.view().as_const();
  const auto o = out.view();
  static_assert(decltype(px)::rank == 4 && decltype(o)::rank == 3, "siglip: pixels [B, C, H, W], out [B, patches, hidden]");
  const index_t B = px.size(0), P = c.patch, G = c.grid(), N = c.patches(), H = c.hidden, rows = B * N;
  FUSEKIT_CHECK(px.size(1) == c.channels && px.size(2) == c.image && px.size(3) == c.image,
                "siglip: pixels have shape {} but the model takes [B, {}, {}, {}]", px.shape(), c.channels, c.image, c.image);
  FUSEKIT_CHECK(o.shape() == (Shape<3>{B, N, H}), "siglip: out has shape {}, expected [{}, {}, {}]", o.shape(), B, N, H);
  FUSEKIT_CHECK(B <= s.images, "siglip: {} images exceed the scratch buffers' {}", B, s.images);

  // patches[b, gy, gx, c, ky, kx] = pixels[b, c, gy P + ky, gx P + kx]
  const auto ps = px.strides();
  const TensorView<const typename decltype(px)::value_type, 6, Space> tiles(
      px.data(), {B, G, G, c.channels, P, P}, {ps[0], P * ps[2], P * ps[3], ps[1], ps[2], ps[3]});
  copy(ctx, TensorView<T, 6, Space>(s.patches.data(), {B, G, G, c.channels, P, P}), tiles);
  TensorView<T, 3, Space> x(s.x.data(), {B, N, H});
  linear(ctx, x, TensorView<const T, 3, Space>(s.patches.data(), {B, N, c.patch_dim()}), m.patch, epi::residual(m.pos));

  TensorView<T, 2, Space> x2(s.x.data(), {rows, H});
  for (const auto& L : m.layers) siglip_layer(ctx, x2, L, c, B, s);
  const LayerNormOptions ln{.eps = c.eps};
  layernorm(ctx, o.reshape(Shape<2>{rows, H}), x2, m.post_w, m.post_b, ln);
}

}  // namespace fusekit::transformer
