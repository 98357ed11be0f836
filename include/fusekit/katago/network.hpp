#pragma once
// katago::Network<Ctx, T>: a KataGo model (katago/model_desc.hpp) built for one backend and storage
// dtype: cpu::Context with float, or hip::Stream with float or half (fp32 math and accumulation
// everywhere). Activations are NHWC; every buffer is allocated for `max_batch` at construction, so a
// forward pass allocates nothing (and can be captured as a graph: katago/evaluator.hpp).
//
// The graph is KataGo's (../shared/models/katago/FORMAT.md), fused where the math allows:
//   NormAct before a convolution    the convolution's input prologue (input_norm_act)
//   NormAct after a convolution     its epilogue (scale_bias, activation, board_mask) when only the
//                                   normalised tensor is used later
//   residual adds                   the epilogue of the convolution or GEMM that makes the update
//   global-pooling biases           an [N, C] GEMM result added by the next convolution's epilogue
//   transformer blocks              RMSNorm; one Q|K|V GEMM; 2-D RoPE as two interleaved RoPEs (rows
//                                   on the first half of each head, columns on the second); scores,
//                                   masked softmax (off-board keys get -1e4) and P V per head as
//                                   batched GEMMs; SwiGLU as one [W1 | Wgate] GEMM with a gated epilogue
// Outputs are KataGo's raw outputs (katago/postprocess.hpp turns them into probabilities and scores).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "fusekit/katago/layers.hpp"
#include "fusekit/ops.hpp"

namespace fusekit::katago {

struct NetworkOptions {
  index_t max_batch = 1;
  index_t board_h = 19, board_w = 19;  // the input tensor's size; smaller boards sit inside via the mask
};

// Inputs in the backend's memory, fp32, any strides: spatial [N, Cin, H, W] (NCHW as KataGo fills it;
// channel 0 is the on-board mask), global [N, G], meta [N, 192] (only for nets with an SGF-metadata
// encoder; empty otherwise).
template <class Space>
struct InputViews {
  TensorView<const float, 4, Space> spatial;
  TensorView<const float, 2, Space> global;
  TensorView<const float, 2, Space> meta{};
};

// Raw outputs, fp32, any strides: policy [N, P, H, W], pass [N, P], value [N, 3] (win, loss, no-result
// logits), score [N, S] (score-value head), ownership [N, 1, H, W] (pre-tanh). Side to move's view.
template <class Space>
struct OutputViews {
  TensorView<float, 4, Space> policy;
  TensorView<float, 2, Space> pass;
  TensorView<float, 2, Space> value;
  TensorView<float, 2, Space> score;
  TensorView<float, 4, Space> ownership;
};

template <class Ctx, class T = float>
class Network {
 public:
  using space = typename Ctx::space;
  using S = space;

  Network(Ctx& ctx, const ModelDesc& d, const NetworkOptions& opt = {})
      : name_(d.name), version_(d.version), H_(opt.board_h), W_(opt.board_w), HW_(H_ * W_), max_n_(opt.max_batch),
        cin_(d.num_spatial_inputs), gin_(d.num_global_inputs), C_(d.trunk.trunk_c), P_(d.policy_channels()),
        SV_(d.score_value_channels()) {
    FUSEKIT_CHECK(max_n_ >= 1 && H_ >= 1 && W_ >= 1, "katago::Network: max_batch {} and board {}x{} must be positive",
                  max_n_, H_, W_);
    const Trunk& t = d.trunk;
    stem_ = make_conv<T>(ctx, t.initial_conv);
    stem_global_ = make_matrix<T>(ctx, t.initial_matmul);
    if (t.has_meta) {
      has_meta_ = true;
      meta_in_ = t.meta.num_inputs;
      meta1_ = make_matrix<T>(ctx, t.meta.mul1);
      meta2_ = make_matrix<T>(ctx, t.meta.mul2);
      meta3_ = make_matrix<T>(ctx, t.meta.mul3);
      meta1b_ = make_vector(ctx, t.meta.bias1.b, t.meta.bias1.name);
      meta2b_ = make_vector(ctx, t.meta.bias2.b, t.meta.bias2.name);
      meta1a_ = ActFn{t.meta.act1.kind};
      meta2a_ = ActFn{t.meta.act2.kind};
    }
    for (const Block& b : t.blocks) blocks_.push_back(make_block<T>(ctx, b, 0));
    tip_rms_ = t.norm_kind == 1;
    if (tip_rms_) {
      FUSEKIT_CHECK(!t.tip_rms.spatial, "katago::Network: '{}' uses a spatial RMSNorm at the trunk tip; not supported yet",
                    t.tip_rms.name);
      tip_gamma_ = make_vector(ctx, t.tip_rms.gamma, t.tip_rms.name);
      tip_eps_ = t.tip_rms.eps;
      tip_ = make_bias_act(ctx, t.tip_rms.beta, t.tip_rms.name, t.tip_act.kind);
    } else {
      tip_ = make_affine(ctx, t.tip_bn, t.tip_act);
    }
    const PolicyHead& p = d.policy;
    p1_ = make_conv<T>(ctx, p.p1_conv);
    g1_ = make_conv<T>(ctx, p.g1_conv);
    p2_ = make_conv<T>(ctx, p.p2_conv);
    g1n_ = make_affine(ctx, p.g1_bn, p.g1_act);
    p1n_ = make_affine(ctx, p.p1_bn, p.p1_act);
    gpool_to_bias_ = make_matrix<T>(ctx, p.gpool_to_bias);
    gpool_to_pass_ = make_matrix<T>(ctx, p.gpool_to_pass);
    pass_mlp_ = p.pass_mlp;
    if (pass_mlp_) {
      pass_b_ = make_vector(ctx, p.pass_bias.b, p.pass_bias.name);
      pass_act_ = ActFn{p.pass_act.kind};
      pass2_ = make_matrix<T>(ctx, p.pass2);
    }
    const ValueHead& v = d.value;
    v1_ = make_conv<T>(ctx, v.v1_conv);
    own_ = make_conv<T>(ctx, v.ownership_conv);
    v1n_ = make_affine(ctx, v.v1_bn, v.v1_act);
    v2_ = make_matrix<T>(ctx, v.v2_mul);
    v2b_ = make_vector(ctx, v.v2_bias.b, v.v2_bias.name);
    v2a_ = ActFn{v.v2_act.kind};
    v3_ = make_matrix<T>(ctx, v.v3_mul);
    v3b_ = make_vector(ctx, v.v3_bias.b, v.v3_bias.name);
    sv3_ = make_matrix<T>(ctx, v.sv3_mul);
    sv3b_ = make_vector(ctx, v.sv3_bias.b, v.sv3_bias.name);
    allocate(ctx);
  }

  const std::string& name() const { return name_; }
  int version() const { return version_; }
  index_t max_batch() const { return max_n_; }
  index_t board_h() const { return H_; }
  index_t board_w() const { return W_; }
  index_t spatial_inputs() const { return cin_; }
  index_t global_inputs() const { return gin_; }
  index_t meta_inputs() const { return has_meta_ ? meta_in_ : 0; }
  index_t policy_channels() const { return P_; }
  index_t score_channels() const { return SV_; }

  void forward(Ctx& ctx, const InputViews<S>& in, const OutputViews<S>& out) {
    const index_t N = in.spatial.size(0);
    check_io(in, out, N);
    if (N == 0) return;
    n_ = N;
    // Inputs: NCHW fp32 -> NHWC storage dtype; the mask is channel 0 of that copy.
    copy(ctx, img(in_.data(), cin_), in.spatial);
    copy(ctx, TensorView<T, 2, S>(glob_.data(), {N, gin_}), in.global);
    gemm(ctx, TensorView<float, 2, S>(vecf_.data(), {N, C_}), TensorView<const T, 2, S>(glob_.data(), {N, gin_}), stem_global_);
    if (has_meta_) meta_encoder(ctx, in.meta);
    if (has_attention_) attention_mask(ctx);
    conv2d(ctx, img(x_.data(), C_), img(in_.data(), cin_), stem_.arg(), make_epilogue(epi::residual(broadcast(vecf_.data(), C_))));
    for (const auto& b : blocks_) apply(ctx, b, x_.data(), C_);
    heads(ctx, out);
  }

 private:
  // ---- views ----
  template <class U>
  TensorView<U, 4, S> img(U* p, index_t c) const {
    return image_view<S>(p, Shape<4>{n_, c, H_, W_}, Layout::nhwc);
  }
  template <class U>
  TensorView<U, 2, S> rows(U* p, index_t c) const {
    return TensorView<U, 2, S>(p, {n_ * HW_, c});
  }
  TensorView<const T, 2, S> mat(const T* p, index_t r, index_t c) const { return TensorView<const T, 2, S>(p, {r, c}); }
  // An [N, C] fp32 per-image bias seen as an [N, HW, C] residual (stride 0 over pixels).
  TensorView<const float, 3, S> broadcast(const float* p, index_t c) const {
    return TensorView<const float, 3, S>(p, {n_, HW_, c}, {c, 0, 1});
  }
  TensorView<const T, 4, S> mask() const { return img(static_cast<const T*>(in_.data()), cin_).slice(1, 0, 1); }

  template <class Affine>
  auto norm_act_epilogue(const Affine& a) const {
    return make_epilogue(epi::scale_bias(a.scale, a.bias), epi::activation(a.act), epi::board_mask(mask()));
  }
  template <class Affine>
  auto norm_act_prologue(const Affine& a) const {
    return input_norm_act(a.scale, a.bias, mask(), a.act);
  }

  void check_io(const InputViews<S>& in, const OutputViews<S>& out, index_t N) const {
    FUSEKIT_CHECK(N <= max_n_, "katago::Network '{}': batch {} exceeds the max_batch {} it was built for", name_, N, max_n_);
    FUSEKIT_CHECK(in.spatial.shape() == (Shape<4>{N, cin_, H_, W_}), "katago::Network '{}': spatial input is {}, expected [{}, {}, {}, {}]",
                  name_, in.spatial.shape(), N, cin_, H_, W_);
    FUSEKIT_CHECK(in.global.shape() == (Shape<2>{N, gin_}), "katago::Network '{}': global input is {}, expected [{}, {}]", name_,
                  in.global.shape(), N, gin_);
    if (has_meta_)
      FUSEKIT_CHECK(in.meta.shape() == (Shape<2>{N, meta_in_}), "katago::Network '{}': metadata input is {}, expected [{}, {}]",
                    name_, in.meta.shape(), N, meta_in_);
    FUSEKIT_CHECK(out.policy.shape() == (Shape<4>{N, P_, H_, W_}) && out.pass.shape() == (Shape<2>{N, P_}) &&
                      out.value.shape() == (Shape<2>{N, 3}) && out.score.shape() == (Shape<2>{N, SV_}) &&
                      out.ownership.shape() == (Shape<4>{N, 1, H_, W_}),
                  "katago::Network '{}': outputs policy {}, pass {}, value {}, score {}, ownership {}; expected [{}, {}, {}, {}], "
                  "[{}, {}], [{}, 3], [{}, {}], [{}, 1, {}, {}]",
                  name_, out.policy.shape(), out.pass.shape(), out.value.shape(), out.score.shape(), out.ownership.shape(), N, P_,
                  H_, W_, N, P_, N, N, SV_, N, H_, W_);
  }

  // ---- trunk ----
  void meta_encoder(Ctx& ctx, const TensorView<const float, 2, S>& meta) {
    const index_t N = n_, c1 = meta1_.size(1), c2 = meta2_.size(1);
    copy(ctx, TensorView<T, 2, S>(glob_.data(), {N, meta_in_}), meta);
    gemm(ctx, TensorView<T, 2, S>(vect_.data(), {N, c1}), mat(glob_.data(), N, meta_in_), meta1_,
         make_epilogue(epi::bias(meta1b_), epi::activation(meta1a_)));
    gemm(ctx, TensorView<T, 2, S>(vect2_.data(), {N, c2}), mat(vect_.data(), N, c1), meta2_,
         make_epilogue(epi::bias(meta2b_), epi::activation(meta2a_)));
    gemm(ctx, TensorView<float, 2, S>(vecf_.data(), {N, C_}), mat(vect2_.data(), N, c2), meta3_, GemmOptions{1.f, 1.f});
  }

  void apply(Ctx& ctx, const BlockL<T, S>& block, T* r, index_t c) {
    std::visit([&](const auto& b) { apply(ctx, b, r, c); }, block.kind);
  }

  void apply(Ctx& ctx, const OrdinaryL<T, S>& b, T* r, index_t c) {
    const index_t mid = b.conv1.cout;
    conv2d(ctx, img(a_.data(), mid), img(r, c), b.conv1.arg(), norm_act_prologue(b.pre), norm_act_epilogue(b.mid));
    conv2d(ctx, img(r, c), img(a_.data(), mid), b.conv2.arg(), make_epilogue(epi::residual(img(r, c))));
  }

  void apply(Ctx& ctx, const GlobalPoolL<T, S>& b, T* r, index_t c) {
    const index_t gc = b.gconv.cout, rc = b.regular.cout, N = n_;
    norm_act(ctx, img(a_.data(), c), img(r, c), b.pre.scale, b.pre.bias, mask(), b.pre.act);
    conv2d(ctx, img(g_.data(), gc), img(a_.data(), c), b.gconv.arg(), norm_act_epilogue(b.gpool));
    global_pool(ctx, TensorView<T, 2, S>(pooled_.data(), {N, 3 * gc}), img(g_.data(), gc), mask(), PoolKind::katago);
    gemm(ctx, TensorView<float, 2, S>(vecf_.data(), {N, rc}), mat(pooled_.data(), N, 3 * gc), b.gpool_to_bias);
    conv2d(ctx, img(b_.data(), rc), img(a_.data(), c), b.regular.arg(),
           make_epilogue(epi::residual(broadcast(vecf_.data(), rc)), epi::scale_bias(b.mid.scale, b.mid.bias),
                         epi::activation(b.mid.act), epi::board_mask(mask())));
    conv2d(ctx, img(r, c), img(b_.data(), rc), b.final_conv.arg(), make_epilogue(epi::residual(img(r, c))));
  }

  void apply(Ctx& ctx, const NestedL<T, S>& b, T* r, index_t c) {
    const index_t mid = b.pre_conv.cout;
    conv2d(ctx, img(t_.data(), mid), img(r, c), b.pre_conv.arg(), norm_act_prologue(b.pre), make_epilogue());
    for (const auto& inner : b.inner) apply(ctx, inner, t_.data(), mid);
    conv2d(ctx, img(r, c), img(t_.data(), mid), b.post_conv.arg(), norm_act_prologue(b.post),
           make_epilogue(epi::residual(img(r, c))));
  }

  void apply(Ctx& ctx, const FfnL<T, S>& b, T* r, index_t c) {
    rmsnorm(ctx, rows(xn_.data(), c), rows(static_cast<const T*>(r), c), b.norm, RmsNormOptions{b.eps});
    gemm(ctx, rows(ffn_.data(), b.ffn), rows(static_cast<const T*>(xn_.data()), c), b.w1,
         make_epilogue(epi::gate<act::Silu>(GateLayout::concatenated)));
    gemm(ctx, rows(r, c), rows(static_cast<const T*>(ffn_.data()), b.ffn), b.w2, make_epilogue(epi::residual(rows(r, c))));
  }

  void apply(Ctx& ctx, const AttentionL<T, S>& b, T* r, index_t c) {
    const index_t N = n_, L = HW_, tokens = N * L, Hq = b.heads, group = b.heads / b.kv_heads;
    const index_t Q = Hq * b.qd, K = b.kv_heads * b.qd, V = b.kv_heads * b.vd, qkvc = Q + K + V;
    rmsnorm(ctx, rows(xn_.data(), c), rows(static_cast<const T*>(r), c), b.norm, RmsNormOptions{b.eps});
    T* qkv = qkv_.data();
    gemm(ctx, rows(qkv, qkvc), rows(static_cast<const T*>(xn_.data()), c), b.qkv);
    if (b.rope) {
      // KataGo's 2-D RoPE: pairs (2j, 2j + 1) of the first half of a head turn with the row, those of the
      // second half with the column, at base^(-2j / (head_dim / 2)): one interleaved RoPE on each half.
      const index_t half = b.qd / 2;
      const RopeOptions ro{b.theta, RopeLayout::interleaved, 0};
      for (int part = 0; part < 2; ++part) {
        TensorView<T, 3, S> q(qkv + part * half, {tokens, Hq, half}, {qkvc, b.qd, 1});
        TensorView<T, 3, S> k(qkv + Q + part * half, {tokens, b.kv_heads, half}, {qkvc, b.qd, 1});
        rope_qk(ctx, q, k, TensorView<const std::int32_t, 1, S>(part == 0 ? pos_row_.data() : pos_col_.data(), {tokens}), ro);
      }
    }
    const Strides<4> score_strides{Hq * L * lp_, L * lp_, lp_, 1};
    TensorView<float, 4, S> scores(scores_.data(), {N, Hq, L, L}, score_strides);
    for (index_t h = 0; h < Hq; ++h) {
      const index_t kh = h / group;
      TensorView<const T, 3, S> qh(qkv + h * b.qd, {N, L, b.qd}, {L * qkvc, qkvc, 1});
      TensorView<const T, 3, S> kt(qkv + Q + kh * b.qd, {N, b.qd, L}, {L * qkvc, 1, qkvc});
      gemm(ctx, TensorView<float, 3, S>(scores_.data() + h * L * lp_, {N, L, L}, {Hq * L * lp_, lp_, 1}), qh, kt);
    }
    softmax(ctx, scores, scores, TensorView<const float, 4, S>(addmask_.data(), {N, 1, 1, L}),
            SoftmaxOptions{1.0f / std::sqrt(static_cast<float>(b.qd))});
    const T* probs = nullptr;
    if constexpr (std::is_same_v<T, float>) {
      probs = scores_.data();
    } else {
      copy(ctx, TensorView<T, 4, S>(probs_.data(), {N, Hq, L, L}, score_strides), scores);
      probs = probs_.data();
    }
    for (index_t h = 0; h < Hq; ++h) {
      const index_t kh = h / group;
      TensorView<const T, 3, S> ph(probs + h * L * lp_, {N, L, L}, {Hq * L * lp_, lp_, 1});
      TensorView<const T, 3, S> vh(qkv + Q + K + kh * b.vd, {N, L, b.vd}, {L * qkvc, qkvc, 1});
      gemm(ctx, TensorView<T, 3, S>(attn_.data() + h * b.vd, {N, L, b.vd}, {L * Hq * b.vd, Hq * b.vd, 1}), ph, vh);
    }
    gemm(ctx, rows(r, c), rows(static_cast<const T*>(attn_.data()), Hq * b.vd), b.out, make_epilogue(epi::residual(rows(r, c))));
  }

  // 0 for on-board keys, -1e4 for off-board ones (exp underflows to 0; finite, so fp16 stays finite).
  void attention_mask(Ctx& ctx) {
    const index_t N = n_;
    TensorView<const T, 4, S> m(in_.data(), {N, 1, 1, HW_}, {HW_ * cin_, HW_ * cin_, HW_ * cin_, cin_});
    axpby(ctx, TensorView<float, 4, S>(addmask_.data(), {N, 1, 1, HW_}), m,
          TensorView<const float, 4, S>(one_.data(), {1, 1, 1, 1}), 1e4, -1e4);
  }

  // ---- heads ----
  void heads(Ctx& ctx, const OutputViews<S>& out) {
    const index_t N = n_;
    // Trunk tip into a_.
    if (tip_rms_) {
      rmsnorm(ctx, rows(a_.data(), C_), rows(static_cast<const T*>(x_.data()), C_), tip_gamma_, RmsNormOptions{tip_eps_});
      norm_act(ctx, img(a_.data(), C_), img(a_.data(), C_), tip_.scale, tip_.bias, mask(), tip_.act);
    } else {
      norm_act(ctx, img(a_.data(), C_), img(x_.data(), C_), tip_.scale, tip_.bias, mask(), tip_.act);
    }
    const auto tip = img(static_cast<const T*>(a_.data()), C_);
    // Policy.
    const index_t g1 = g1_.cout, p1 = p1_.cout;
    conv2d(ctx, img(g_.data(), g1), tip, g1_.arg(), norm_act_epilogue(g1n_));
    global_pool(ctx, TensorView<T, 2, S>(pooled_.data(), {N, 3 * g1}), img(g_.data(), g1), mask(), PoolKind::katago);
    const auto gp = mat(pooled_.data(), N, 3 * g1);
    gemm(ctx, TensorView<float, 2, S>(vecf_.data(), {N, p1}), gp, gpool_to_bias_);
    conv2d(ctx, img(b_.data(), p1), tip, p1_.arg(),
           make_epilogue(epi::residual(broadcast(vecf_.data(), p1)), epi::scale_bias(p1n_.scale, p1n_.bias),
                         epi::activation(p1n_.act), epi::board_mask(mask())));
    conv2d(ctx, out.policy, img(static_cast<const T*>(b_.data()), p1), p2_.arg());
    if (pass_mlp_) {
      const index_t ph = gpool_to_pass_.size(1);
      gemm(ctx, TensorView<T, 2, S>(vect_.data(), {N, ph}), gp, gpool_to_pass_, make_epilogue(epi::bias(pass_b_), epi::activation(pass_act_)));
      gemm(ctx, out.pass, mat(vect_.data(), N, ph), pass2_);
    } else {
      gemm(ctx, out.pass, gp, gpool_to_pass_);
    }
    // Value, score and ownership.
    const index_t v1 = v1_.cout, v2 = v2_.size(1);
    conv2d(ctx, img(g_.data(), v1), tip, v1_.arg(), norm_act_epilogue(v1n_));
    global_pool(ctx, TensorView<T, 2, S>(pooled_.data(), {N, 3 * v1}), img(g_.data(), v1), mask(), PoolKind::value_head);
    gemm(ctx, TensorView<T, 2, S>(vect_.data(), {N, v2}), mat(pooled_.data(), N, 3 * v1), v2_,
         make_epilogue(epi::bias(v2b_), epi::activation(v2a_)));
    const auto vh = mat(vect_.data(), N, v2);
    gemm(ctx, out.value, vh, v3_, make_epilogue(epi::bias(v3b_)));
    gemm(ctx, out.score, vh, sv3_, make_epilogue(epi::bias(sv3b_)));
    conv2d(ctx, out.ownership, img(static_cast<const T*>(g_.data()), v1), own_.arg());
  }

  // ---- buffers, sized once for max_batch ----
  struct Widths {
    index_t stream = 0, mid = 0, pooled = 0, vec = 0, qkv = 0, heads = 0, attn = 0, ffn = 0;
  };
  void widths(const BlockL<T, S>& block, index_t c, Widths& w) {
    std::visit(
        [&](const auto& b) {
          using B = std::remove_cvref_t<decltype(b)>;
          w.stream = std::max(w.stream, c);
          if constexpr (std::is_same_v<B, OrdinaryL<T, S>>) {
            w.mid = std::max(w.mid, b.conv1.cout);
          } else if constexpr (std::is_same_v<B, GlobalPoolL<T, S>>) {
            w.mid = std::max({w.mid, b.regular.cout, b.gconv.cout});
            w.pooled = std::max(w.pooled, 3 * b.gconv.cout);
            w.vec = std::max(w.vec, b.regular.cout);
          } else if constexpr (std::is_same_v<B, NestedL<T, S>>) {
            t_width_ = std::max(t_width_, b.pre_conv.cout);
            for (const auto& inner : b.inner) widths(inner, b.pre_conv.cout, w);
          } else if constexpr (std::is_same_v<B, AttentionL<T, S>>) {
            has_attention_ = true;
            w.qkv = std::max(w.qkv, b.qkv.size(1));
            w.heads = std::max(w.heads, b.heads);
            w.attn = std::max(w.attn, b.heads * b.vd);
          } else {
            w.ffn = std::max(w.ffn, b.ffn);
          }
        },
        block.kind);
  }

  void allocate(Ctx& ctx) {
    Widths w;
    for (const auto& b : blocks_) widths(b, C_, w);
    const index_t px = max_n_ * HW_;
    const index_t mid = std::max({w.mid, w.stream, C_, p1_.cout});
    const index_t gw = std::max({w.mid, g1_.cout, v1_.cout});
    const index_t vec = std::max({w.vec, C_, p1_.cout, gpool_to_pass_.size(1), v2_.size(1),
                                  has_meta_ ? meta1_.size(1) : 0, has_meta_ ? meta2_.size(1) : 0});
    auto buf = [&](auto& t, index_t n) { t = std::remove_cvref_t<decltype(t)>(Shape<1>{std::max<index_t>(n, 1)}, ctx); };
    buf(in_, px * cin_);
    buf(glob_, max_n_ * std::max(gin_, meta_in_));
    buf(x_, px * C_);
    buf(t_, px * t_width_);
    buf(a_, px * mid);
    buf(b_, px * mid);
    buf(g_, px * gw);
    buf(pooled_, max_n_ * std::max({w.pooled, 3 * g1_.cout, 3 * v1_.cout}));
    buf(vecf_, max_n_ * vec);
    buf(vect_, max_n_ * vec);
    buf(vect2_, max_n_ * vec);
    if (has_attention_) {
      lp_ = (HW_ + 7) / 8 * 8;  // score rows padded to 32 bytes
      buf(qkv_, px * w.qkv);
      buf(scores_, max_n_ * w.heads * HW_ * lp_);
      if constexpr (!std::is_same_v<T, float>) buf(probs_, max_n_ * w.heads * HW_ * lp_);
      buf(attn_, px * w.attn);
      buf(addmask_, max_n_ * HW_);
      std::vector<std::int32_t> row(static_cast<std::size_t>(px)), col(row.size());
      for (index_t i = 0; i < px; ++i) {
        row[i] = static_cast<std::int32_t>(i % HW_ / W_);
        col[i] = static_cast<std::int32_t>(i % W_);
      }
      pos_row_ = upload<std::int32_t>(ctx, row, Shape<1>{px}, "rope rows");
      pos_col_ = upload<std::int32_t>(ctx, col, Shape<1>{px}, "rope columns");
      one_ = upload<float>(ctx, std::vector<float>{1.f}, Shape<1>{1}, "one");
    }
    if (has_attention_ || w.ffn > 0) buf(xn_, px * w.stream);  // the normalised tokens of either block
    if (w.ffn > 0) buf(ffn_, px * w.ffn);
  }

  std::string name_;
  int version_;
  index_t H_, W_, HW_, max_n_, cin_, gin_, C_, P_, SV_;
  index_t n_ = 0;  // the batch of the forward pass running
  // trunk
  ConvW<T, S> stem_;
  Tensor<T, 2, S> stem_global_;
  bool has_meta_ = false;
  index_t meta_in_ = 0;
  Tensor<T, 2, S> meta1_, meta2_, meta3_;
  Tensor<float, 1, S> meta1b_, meta2b_;
  ActFn meta1a_, meta2a_;
  std::vector<BlockL<T, S>> blocks_;
  bool tip_rms_ = false;
  Tensor<float, 1, S> tip_gamma_;
  float tip_eps_ = 0.f;
  ChannelAffine<S> tip_;
  // policy head
  ConvW<T, S> p1_, g1_, p2_;
  ChannelAffine<S> g1n_, p1n_;
  Tensor<T, 2, S> gpool_to_bias_, gpool_to_pass_, pass2_;
  bool pass_mlp_ = false;
  Tensor<float, 1, S> pass_b_;
  ActFn pass_act_;
  // value head
  ConvW<T, S> v1_, own_;
  ChannelAffine<S> v1n_;
  Tensor<T, 2, S> v2_, v3_, sv3_;
  Tensor<float, 1, S> v2b_, v3b_, sv3b_;
  ActFn v2a_;
  // buffers (flat; views give them shape per batch)
  bool has_attention_ = false;
  index_t t_width_ = 0, lp_ = 0;
  Tensor<T, 1, S> in_, glob_, x_, t_, a_, b_, g_, pooled_, vect_, vect2_, xn_, qkv_, probs_, attn_, ffn_;
  Tensor<float, 1, S> vecf_, scores_, addmask_, one_;
  Tensor<std::int32_t, 1, S> pos_row_, pos_col_;
};

}  // namespace fusekit::katago
