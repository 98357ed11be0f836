#pragma once
// A KataGo model's weights moved onto a backend, once, in the forms the kernels want:
//   convolutions  OHWI [Cout, K, K, Cin] in the storage dtype (the GPU matrix-core layout); on the CPU
//                 prepared once (cpu::ConvWeights) instead
//   batch norms   folded fp32 per-channel scale and bias, plus the activation that follows
//   matmuls       [in, out] in the storage dtype; biases fp32
//   transformer   Q|K|V and SwiGLU W1|Wgate concatenated, so that each is one GEMM
// katago::Network (katago/network.hpp) runs them.
#include <algorithm>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "fusekit/core.hpp"
#include "fusekit/cpu/conv_weights.hpp"
#include "fusekit/katago/activation.hpp"
#include "fusekit/katago/model_desc.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/ops/transfer.hpp"
#endif

namespace fusekit::katago {

// Values laid out as `shape`, converted to T and placed in ctx's memory space.
template <class T, class Ctx, std::size_t R, class U>
Tensor<T, R, typename Ctx::space> upload(Ctx& ctx, const std::vector<U>& values, const Shape<R>& shape,
                                         const std::string& what) {
  FUSEKIT_CHECK(static_cast<index_t>(values.size()) == numel(shape), "katago: layer '{}' holds {} values, expected {} for {}",
                what, values.size(), numel(shape), shape);
  HostTensor<T, R> h(shape);
  for (std::size_t i = 0; i < values.size(); ++i) {
    if constexpr (std::is_same_v<T, U>) h.data()[i] = values[i];
    else h.data()[i] = convert<T>(values[i]);
  }
  if constexpr (std::is_same_v<typename Ctx::space, HostSpace>) {
    (void)ctx;
    return h;
  } else {
#if FUSEKIT_GPUCC
    return to_device(ctx, h);
#endif
  }
}

template <class Space>
struct ChannelAffine {  // y = act(x * scale + bias)
  Tensor<float, 1, Space> scale, bias;
  ActFn act;
  index_t c = 0;
};

template <class Ctx>
ChannelAffine<typename Ctx::space> make_affine(Ctx& ctx, const BatchNormLayer& bn, const ActivationLayer& a) {
  return {upload<float>(ctx, bn.merged_scale, Shape<1>{bn.c}, bn.name), upload<float>(ctx, bn.merged_bias, Shape<1>{bn.c}, bn.name),
          ActFn{a.kind}, bn.c};
}

// Scale 1, a bias, and an activation (the RMSNorm tip's beta; the policy/value heads' bias layers).
template <class Ctx>
ChannelAffine<typename Ctx::space> make_bias_act(Ctx& ctx, const std::vector<float>& bias, const std::string& name, Activation a) {
  const index_t c = static_cast<index_t>(bias.size());
  return {upload<float>(ctx, std::vector<float>(bias.size(), 1.f), Shape<1>{c}, name), upload<float>(ctx, bias, Shape<1>{c}, name),
          ActFn{a}, c};
}

template <class T, class Space>
struct ConvW {
  index_t cout = 0, cin = 0, k = 0;
  Tensor<T, 4, Space> ohwi;   // [Cout, K, K, Cin] (GPU)
  cpu::ConvWeights prepared;  // (CPU)

  // What conv2d takes: the prepared weights on the CPU, the (Cout, Cin, K, K) view of OHWI on the GPU.
  decltype(auto) arg() const {
    if constexpr (std::is_same_v<Space, HostSpace>) return (prepared);
    else return ohwi.view().permute({0, 3, 1, 2});
  }
};

// `cin_stored` > in_c: the weight takes that many input channels, the extra ones with zero weights (an
// input whose channels are padded for vector loads).
template <class T, class Ctx>
ConvW<T, typename Ctx::space> make_conv(Ctx& ctx, const ConvLayer& c, index_t cin_stored = 0) {
  FUSEKIT_CHECK(c.ky == c.kx && c.ky % 2 == 1, "katago: convolution '{}' is {}x{}; square odd kernels only", c.name, c.ky, c.kx);
  FUSEKIT_CHECK(c.dil_y == 1 && c.dil_x == 1, "katago: convolution '{}' is dilated ({}, {}); not supported", c.name, c.dil_y, c.dil_x);
  const index_t K = c.ky, I = std::max<index_t>(c.in_c, cin_stored), O = c.out_c;
  std::vector<float> ohwi(static_cast<std::size_t>(O * K * K * I), 0.f);  // file order: [ky][kx][ic][oc]
  for (index_t y = 0; y < K; ++y)
    for (index_t x = 0; x < K; ++x)
      for (index_t i = 0; i < c.in_c; ++i)
        for (index_t o = 0; o < O; ++o) ohwi[((o * K + y) * K + x) * I + i] = c.w[((y * K + x) * c.in_c + i) * O + o];
  ConvW<T, typename Ctx::space> w;
  w.cout = O;
  w.cin = I;
  w.k = K;
  if constexpr (std::is_same_v<typename Ctx::space, HostSpace>) {
    static_assert(std::is_same_v<T, float>, "katago: the CPU network computes in fp32");
    HostTensor<float, 4> t({O, K, K, I});
    std::copy(ohwi.begin(), ohwi.end(), t.data());
    w.prepared = cpu::prepare_conv_weights(t.view().permute({0, 3, 1, 2}));
  } else {
    w.ohwi = upload<T>(ctx, ohwi, Shape<4>{O, K, K, I}, c.name);
  }
  return w;
}

template <class T, class Ctx>
Tensor<T, 2, typename Ctx::space> make_matrix(Ctx& ctx, const MatMulLayer& m) {
  return upload<T>(ctx, m.w, Shape<2>{m.in_c, m.out_c}, m.name);
}

// Several [in, out] matrices side by side: [in, out_1 + out_2 + ...].
template <class T, class Ctx>
Tensor<T, 2, typename Ctx::space> make_matrix_concat(Ctx& ctx, const std::vector<const MatMulLayer*>& ms) {
  const index_t in = ms.front()->in_c;
  index_t out = 0;
  for (const MatMulLayer* m : ms) {
    FUSEKIT_CHECK(m->in_c == in, "katago: '{}' takes {} inputs but '{}' takes {}", m->name, m->in_c, ms.front()->name, in);
    out += m->out_c;
  }
  std::vector<float> w(static_cast<std::size_t>(in * out));
  index_t col = 0;
  for (const MatMulLayer* m : ms) {
    for (index_t i = 0; i < in; ++i)
      for (index_t o = 0; o < m->out_c; ++o) w[i * out + col + o] = m->w[i * m->out_c + o];
    col += m->out_c;
  }
  return upload<T>(ctx, w, Shape<2>{in, out}, ms.front()->name);
}

template <class Ctx>
Tensor<float, 1, typename Ctx::space> make_vector(Ctx& ctx, const std::vector<float>& v, const std::string& name) {
  return upload<float>(ctx, v, Shape<1>{static_cast<index_t>(v.size())}, name);
}

// ---- blocks ----

template <class T, class S>
struct OrdinaryL {
  ChannelAffine<S> pre, mid;
  ConvW<T, S> conv1, conv2;
};

template <class T, class S>
struct GlobalPoolL {
  ChannelAffine<S> pre, gpool, mid;
  ConvW<T, S> regular, gconv, final_conv;
  Tensor<T, 2, S> gpool_to_bias;  // [3 gpoolC, regularC]
};

template <class T, class S>
struct AttentionL {
  index_t heads = 0, kv_heads = 0, qd = 0, vd = 0;
  bool rope = false;
  float theta = 0.f;
  Tensor<float, 1, S> norm;  // RMSNorm weight
  float eps = 0.f;
  Tensor<T, 2, S> qkv;  // [C, (heads + kv_heads) qd + kv_heads vd]
  Tensor<T, 2, S> out;  // [heads vd, C]
};

template <class T, class S>
struct FfnL {
  index_t ffn = 0;
  Tensor<float, 1, S> norm;
  float eps = 0.f;
  Tensor<T, 2, S> w1;  // [C, 2 ffn] = [W1 | Wgate]: silu(x W1) * (x Wgate)
  Tensor<T, 2, S> w2;  // [ffn, C]
};

template <class T, class S> struct BlockL;

template <class T, class S>
struct NestedL {
  ChannelAffine<S> pre, post;
  ConvW<T, S> pre_conv, post_conv;
  std::vector<BlockL<T, S>> inner;
};

template <class T, class S>
struct BlockL {
  std::variant<OrdinaryL<T, S>, GlobalPoolL<T, S>, NestedL<T, S>, AttentionL<T, S>, FfnL<T, S>> kind;
};

template <class T, class Ctx>
BlockL<T, typename Ctx::space> make_block(Ctx& ctx, const Block& b, int depth) {
  using S = typename Ctx::space;
  if (const auto* o = std::get_if<OrdinaryBlock>(&b.kind)) {
    return {OrdinaryL<T, S>{make_affine(ctx, o->pre_bn, o->pre_act), make_affine(ctx, o->mid_bn, o->mid_act),
                            make_conv<T>(ctx, o->conv1), make_conv<T>(ctx, o->conv2)}};
  }
  if (const auto* g = std::get_if<GlobalPoolBlock>(&b.kind)) {
    return {GlobalPoolL<T, S>{make_affine(ctx, g->pre_bn, g->pre_act), make_affine(ctx, g->gpool_bn, g->gpool_act),
                              make_affine(ctx, g->mid_bn, g->mid_act), make_conv<T>(ctx, g->regular_conv),
                              make_conv<T>(ctx, g->gpool_conv), make_conv<T>(ctx, g->final_conv),
                              make_matrix<T>(ctx, g->gpool_to_bias)}};
  }
  if (const auto* n = std::get_if<NestedBottleneckBlock>(&b.kind)) {
    FUSEKIT_CHECK(depth == 0, "katago: nested-bottleneck block '{}' sits inside another one; one level is supported", n->name);
    NestedL<T, S> l{make_affine(ctx, n->pre_bn, n->pre_act), make_affine(ctx, n->post_bn, n->post_act),
                    make_conv<T>(ctx, n->pre_conv), make_conv<T>(ctx, n->post_conv), {}};
    for (const Block& inner : n->inner) l.inner.push_back(make_block<T>(ctx, inner, depth + 1));
    return {std::move(l)};
  }
  if (const auto* a = std::get_if<AttentionBlock>(&b.kind)) {
    FUSEKIT_CHECK(!a->learnable_rope, "katago: attention block '{}' uses learnable RoPE; not supported yet", a->name);
    FUSEKIT_CHECK(!a->use_rope || a->q_head_dim % 4 == 0, "katago: attention block '{}': 2-D RoPE needs a query head dim divisible by 4, got {}",
                  a->name, a->q_head_dim);
    FUSEKIT_CHECK(a->kv_heads > 0 && a->heads % a->kv_heads == 0, "katago: attention block '{}': {} heads over {} KV heads",
                  a->name, a->heads, a->kv_heads);
    return {AttentionL<T, S>{a->heads, a->kv_heads, a->q_head_dim, a->v_head_dim, a->use_rope, a->rope_theta,
                             make_vector(ctx, a->norm.gamma, a->norm.name), a->norm.eps,
                             make_matrix_concat<T>(ctx, {&a->q, &a->k, &a->v}), make_matrix<T>(ctx, a->out)}};
  }
  const auto& f = std::get<FfnBlock>(b.kind);
  // Without SwiGLU the FFN's activation is the training config's, which the file does not record.
  FUSEKIT_CHECK(f.swiglu, "katago: FFN block '{}' is not SwiGLU; its activation is not in the file, so it is not supported", f.name);
  return {FfnL<T, S>{f.ffn_c, make_vector(ctx, f.norm.gamma, f.norm.name), f.norm.eps,
                     make_matrix_concat<T>(ctx, {&f.w1, &f.gate}), make_matrix<T>(ctx, f.w2)}};
}

}  // namespace fusekit::katago
