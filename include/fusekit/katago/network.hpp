#pragma once
// katago::Network<Ctx, T>: a KataGo model (katago/model_desc.hpp) built for one backend and storage
// dtype: cpu::Context with float, or hip::Stream with float or half (fp32 math and accumulation
// everywhere). Activations are NHWC and live in a Workspace (make_workspace) allocated for `max_batch`,
// so a forward pass allocates nothing (and can be captured as a graph: katago/evaluator.hpp); the
// network's weights are never written after construction, so threads with their own context and
// workspace can share one network.
//
// The graph is KataGo's (../shared/models/katago/FORMAT.md), fused where the math allows:
//   NormAct before a convolution    the convolution's input prologue (input_norm_act)
//   NormAct after a convolution     its epilogue (scale_bias, activation, board_mask) when only the
//                                   normalised tensor is used later
//   NormAct of the residual stream  with NormActPlacement::producer, stored beside the stream by the
//                                   convolution that writes it (epi::store_norm_act), for the next
//                                   block's convolution to read as is
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
#include <optional>
#include <type_traits>
#include <vector>

#include "fusekit/katago/fp16_scale8.hpp"
#include "fusekit/katago/layers.hpp"
#include "fusekit/ops.hpp"

namespace fusekit::katago {

// How activations are stored: `automatic` divides them by 8 for fp16 storage (KataGo's
// applyScale8ToReduceActivations, katago/fp16_scale8.hpp: same outputs, 8x more headroom below fp16's
// 65504) on convolutional trunks; `divided_by_8` forces it (any dtype), `as_is` turns it off.
enum class ActivationScale { automatic, as_is, divided_by_8 };

// Where a block's leading NormAct (KataGo's pre-activation batch norm) runs. `consumer`: in the
// convolution that reads the residual stream (its input prologue; on the GPU a staged NormAct pass).
// `producer`: the convolution that writes the stream also stores the NormAct'ed copy that the next block
// reads as is (epi::store_norm_act), so no pass reads the stream back. `automatic`: on the GPU producer
// for batches up to producer_norm_act_max_batch, consumer above and on the CPU. Measured on an H100
// (b18c384nbt fp16, docs/performance.md): producer 2-3% faster at batch 1 and 8, 8-15% slower from 16
// up, where the convs no longer split K and the extra store with its activation lengthens each tile's
// epilogue more than the staged pass, a bandwidth-bound kernel, costs.
enum class NormActPlacement { automatic, consumer, producer };
inline constexpr index_t producer_norm_act_max_batch = 8;

struct NetworkOptions {
  index_t max_batch = 1;
  index_t board_h = 19, board_w = 19;  // the input tensor's size; smaller boards sit inside via the mask
  ActivationScale activation_scale = ActivationScale::automatic;
  ConvPrologue conv_prologue = ConvPrologue::automatic;  // GPU: where convs apply their NormAct (ConvOptions)
  NormActPlacement norm_act = NormActPlacement::automatic;
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
        cin_(d.num_spatial_inputs), cin_stored_(stored_input_channels(cin_)), gin_(d.num_global_inputs),
        C_(d.trunk.trunk_c), P_(d.policy_channels()), SV_(d.score_value_channels()) {
    if constexpr (!std::is_same_v<S, HostSpace>) prologue_opt_.prologue = opt.conv_prologue;
    placement_ = opt.norm_act;
    if (placement_ == NormActPlacement::automatic && std::is_same_v<S, HostSpace>) placement_ = NormActPlacement::consumer;
    FUSEKIT_CHECK(max_n_ >= 1 && H_ >= 1 && W_ >= 1, "katago::Network: max_batch {} and board {}x{} must be positive",
                  max_n_, H_, W_);
    const bool want = opt.activation_scale == ActivationScale::divided_by_8 ||
                      (opt.activation_scale == ActivationScale::automatic && std::is_same_v<T, half>);
    divided_by_8_ = want && scale8_applies(d);
    std::optional<ModelDesc> scaled;
    if (divided_by_8_) scaled.emplace(scale8_for_fp16(d));
    const ModelDesc& m = scaled ? *scaled : d;
    const Trunk& t = m.trunk;
    stem_ = make_conv<T>(ctx, t.initial_conv, cin_stored_);
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
    const PolicyHead& p = m.policy;
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
    const ValueHead& v = m.value;
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
    plan(ctx);
    // The weights are complete before any other stream reads them (evaluators on other threads).
    if constexpr (requires { ctx.synchronize(); }) ctx.synchronize();
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
  // Whether activations are stored divided by 8 (see ActivationScale).
  bool activations_divided_by_8() const { return divided_by_8_; }

  // Activation buffers for one forward pass at a time, sized for max_batch (make_workspace). The network
  // itself is read-only once built: threads that each bring a context (or stream) and a workspace can
  // run one network concurrently.
  class Workspace {
   public:
    Workspace() = default;

   private:
    friend class Network;
    Tensor<T, 1, S> in, mask, glob, x, t, a, b, g, pooled, vect, vect2, xn, qkv, probs, attn, ffn;
    Tensor<T, 1, S> nx, nt;  // NormActPlacement::producer: the NormAct'ed copies of x and t
    Tensor<float, 1, S> vecf, scores, addmask;
    const Network* owner = nullptr;
  };

  Workspace make_workspace(Ctx& ctx) const {
    Workspace ws;
    allocate(ctx, ws);
    return ws;
  }

  // The forward pass for in.spatial.size(0) <= max_batch positions, with the buffers of `ws` (made by
  // this network's make_workspace). Safe to call from several threads at once with different ctx and ws.
  void forward(Ctx& ctx, Workspace& ws, const InputViews<S>& in, const OutputViews<S>& out) const {
    const index_t N = in.spatial.size(0);
    check_io(in, out, N);
    FUSEKIT_CHECK(ws.owner == this, "katago::Network '{}': the workspace was made by {} network", name_,
                  ws.owner ? "another" : "no");
    if (N == 0) return;
    const Run r{ctx, ws, N, N <= producer_max_batch()};
    // Inputs: NCHW fp32 -> NHWC storage dtype (channels past cin_ stay zero), and the on-board mask
    // (channel 0) once more as a dense plane, which the NormAct kernels read in vectors.
    copy(ctx, img(r, r.ws.in.data(), cin_stored_).slice(1, 0, cin_), in.spatial);
    copy(ctx, img(r, r.ws.mask.data(), 1), in.spatial.slice(1, 0, 1));
    copy(ctx, TensorView<T, 2, S>(r.ws.glob.data(), {N, gin_}), in.global);
    gemm(ctx, TensorView<float, 2, S>(r.ws.vecf.data(), {N, C_}), TensorView<const T, 2, S>(r.ws.glob.data(), {N, gin_}), stem_global_);
    if (has_meta_) meta_encoder(r, in.meta);
    if (has_attention_) attention_mask(r);
    const Stream xs{r.ws.x.data(), C_, r.producer ? r.ws.nx.data() : nullptr};
    bool normed = conv_to_stream(r, xs, next_norm(r, blocks_, 0), img(r, xs.x, C_), img(r, static_cast<const T*>(r.ws.in.data()), cin_stored_),
                                 stem_.arg(), epi::residual(broadcast(r, r.ws.vecf.data(), C_)));
    for (std::size_t i = 0; i < blocks_.size(); ++i) normed = apply(r, blocks_[i], xs, normed, next_norm(r, blocks_, i + 1));
    heads(r, out, normed);
  }

 private:
  struct Run {  // one forward pass: where it runs, its buffers and its batch
    Ctx& ctx;
    Workspace& ws;
    index_t n;
    bool producer;  // the stream's NormAct stored by its producer (NormActPlacement)
  };

  // The largest batch whose forward pass stores the stream's NormAct in its producer (NormActPlacement);
  // 0: none does.
  index_t producer_max_batch() const {
    if (placement_ == NormActPlacement::producer) return max_n_;
    return placement_ == NormActPlacement::automatic ? std::min(max_n_, producer_norm_act_max_batch) : 0;
  }

  // Input channels as stored: on the GPU a multiple of 8 (zeros after the real ones), so that the stem
  // conv's 16-byte loads of 8 channels apply (22 channels would take the SIMT kernel); as given on the CPU.
  static index_t stored_input_channels(index_t cin) {
    return std::is_same_v<S, HostSpace> ? cin : (cin + 7) / 8 * 8;
  }

  // ---- views ----
  template <class U>
  TensorView<U, 4, S> img(const Run& r, U* p, index_t c) const {
    return image_view<S>(p, Shape<4>{r.n, c, H_, W_}, Layout::nhwc);
  }
  template <class U>
  TensorView<U, 2, S> rows(const Run& r, U* p, index_t c) const {
    return TensorView<U, 2, S>(p, {r.n * HW_, c});
  }
  TensorView<const T, 2, S> mat(const T* p, index_t m, index_t c) const { return TensorView<const T, 2, S>(p, {m, c}); }
  // An [N, C] fp32 per-image bias seen as an [N, HW, C] residual (stride 0 over pixels).
  TensorView<const float, 3, S> broadcast(const Run& r, const float* p, index_t c) const {
    return TensorView<const float, 3, S>(p, {r.n, HW_, c}, {c, 0, 1});
  }
  TensorView<const T, 4, S> mask(const Run& r) const { return img(r, static_cast<const T*>(r.ws.mask.data()), 1); }

  template <class Affine>
  auto norm_act_epilogue(const Run& r, const Affine& a) const {
    return make_epilogue(epi::scale_bias(a.scale, a.bias), epi::activation(a.act), epi::board_mask(mask(r)));
  }
  template <class Affine>
  auto norm_act_prologue(const Run& r, const Affine& a) const {
    return input_norm_act(a.scale, a.bias, mask(r), a.act);
  }

  // ---- the residual streams and their NormAct'ed copies (NormActPlacement) ----
  struct Stream {
    T* x;        // the stream, c channels
    index_t c;
    T* normed;   // producer placement: where the NormAct'ed copy of x for the next block goes; else nullptr
  };
  // The NormAct a block applies first to the stream it reads (nullptr: it starts with something else).
  static const ChannelAffine<S>* entry_norm(const BlockL<T, S>& block) {
    return std::visit(
        [](const auto& b) -> const ChannelAffine<S>* {
          if constexpr (requires { b.pre.act; }) return &b.pre;
          else return nullptr;
        },
        block.kind);
  }
  // What the reader after blocks[0, i) applies to the stream: blocks[i]'s entry NormAct, or past the last
  // block the trunk tip's (top level, without the RMSNorm tip). nullptr: consumer placement, or none.
  const ChannelAffine<S>* next_norm(const Run& r, const std::vector<BlockL<T, S>>& blocks, std::size_t i,
                                    const ChannelAffine<S>* after = nullptr) const {
    if (!r.producer) return nullptr;
    if (i < blocks.size()) return entry_norm(blocks[i]);
    if (after) return after;
    return &blocks == &blocks_ && !tip_rms_ ? &tip_ : nullptr;
  }
  // A convolution that writes the stream y with `stages`, and with `next` the NormAct'ed copy of the
  // result into s.normed. Returns whether it did.
  template <class X, class W, class... St>
  bool conv_to_stream(const Run& r, const Stream& s, const ChannelAffine<S>* next, const TensorView<T, 4, S>& y, const X& x, const W& w,
                      const St&... stages) const {
    if (next && s.normed) {
      conv2d(r.ctx, y, x, w, make_epilogue(stages..., epi::store_norm_act(img(r, s.normed, s.c), norm_act_prologue(r, *next))));
      return true;
    }
    conv2d(r.ctx, y, x, w, make_epilogue(stages...));
    return false;
  }
  // A convolution that reads the stream through the NormAct `pre`: from s.normed when the stream's writer
  // stored it there (normed), else through its input prologue.
  template <class W, class Epi>
  void conv_from_stream(const Run& r, const Stream& s, bool normed, const ChannelAffine<S>& pre, const TensorView<T, 4, S>& y, const W& w,
                        const Epi& epi) const {
    if (normed) conv2d(r.ctx, y, img(r, static_cast<const T*>(s.normed), s.c), w, epi);
    else conv2d(r.ctx, y, img(r, static_cast<const T*>(s.x), s.c), w, norm_act_prologue(r, pre), epi, prologue_opt_);
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
  void meta_encoder(const Run& r, const TensorView<const float, 2, S>& meta) const {
    Ctx& ctx = r.ctx;
    const index_t N = r.n, c1 = meta1_.size(1), c2 = meta2_.size(1);
    copy(ctx, TensorView<T, 2, S>(r.ws.glob.data(), {N, meta_in_}), meta);
    gemm(ctx, TensorView<T, 2, S>(r.ws.vect.data(), {N, c1}), mat(r.ws.glob.data(), N, meta_in_), meta1_,
         make_epilogue(epi::bias(meta1b_), epi::activation(meta1a_)));
    gemm(ctx, TensorView<T, 2, S>(r.ws.vect2.data(), {N, c2}), mat(r.ws.vect.data(), N, c1), meta2_,
         make_epilogue(epi::bias(meta2b_), epi::activation(meta2a_)));
    gemm(ctx, TensorView<float, 2, S>(r.ws.vecf.data(), {N, C_}), mat(r.ws.vect2.data(), N, c2), meta3_, GemmOptions{1.f, 1.f});
  }

  // Each block reads the stream s (normed: s.normed holds its entry NormAct of it), updates it, and with
  // `next` also leaves next's NormAct of the result in s.normed; it returns whether it did.
  bool apply(const Run& r, const BlockL<T, S>& block, const Stream& s, bool normed, const ChannelAffine<S>* next) const {
    return std::visit([&](const auto& b) { return apply(r, b, s, normed, next); }, block.kind);
  }

  bool apply(const Run& r, const OrdinaryL<T, S>& b, const Stream& s, bool normed, const ChannelAffine<S>* next) const {
    const index_t mid = b.conv1.cout;
    conv_from_stream(r, s, normed, b.pre, img(r, r.ws.a.data(), mid), b.conv1.arg(), norm_act_epilogue(r, b.mid));
    return conv_to_stream(r, s, next, img(r, s.x, s.c), img(r, static_cast<const T*>(r.ws.a.data()), mid), b.conv2.arg(),
                          epi::residual(img(r, s.x, s.c)));
  }

  bool apply(const Run& r, const GlobalPoolL<T, S>& b, const Stream& s, bool normed, const ChannelAffine<S>* next) const {
    Ctx& ctx = r.ctx;
    const index_t gc = b.gconv.cout, rc = b.regular.cout, N = r.n, c = s.c;
    T* an = normed ? s.normed : r.ws.a.data();  // the stream through b.pre
    if (!normed) norm_act(ctx, img(r, an, c), img(r, static_cast<const T*>(s.x), c), b.pre.scale, b.pre.bias, mask(r), b.pre.act);
    conv2d(ctx, img(r, r.ws.g.data(), gc), img(r, static_cast<const T*>(an), c), b.gconv.arg(), norm_act_epilogue(r, b.gpool));
    global_pool(ctx, TensorView<T, 2, S>(r.ws.pooled.data(), {N, 3 * gc}), img(r, r.ws.g.data(), gc), mask(r), PoolKind::katago);
    gemm(ctx, TensorView<float, 2, S>(r.ws.vecf.data(), {N, rc}), mat(r.ws.pooled.data(), N, 3 * gc), b.gpool_to_bias);
    conv2d(ctx, img(r, r.ws.b.data(), rc), img(r, static_cast<const T*>(an), c), b.regular.arg(),
           make_epilogue(epi::residual(broadcast(r, r.ws.vecf.data(), rc)), epi::scale_bias(b.mid.scale, b.mid.bias),
                         epi::activation(b.mid.act), epi::board_mask(mask(r))));
    return conv_to_stream(r, s, next, img(r, s.x, c), img(r, static_cast<const T*>(r.ws.b.data()), rc), b.final_conv.arg(),
                          epi::residual(img(r, s.x, c)));
  }

  bool apply(const Run& r, const NestedL<T, S>& b, const Stream& s, bool normed, const ChannelAffine<S>* next) const {
    const index_t mid = b.pre_conv.cout;
    const Stream t{r.ws.t.data(), mid, r.producer ? r.ws.nt.data() : nullptr};
    // The inner stream starts as the pre-convolution's output (no epilogue of its own).
    bool t_normed = false;
    const ChannelAffine<S>* first = next_norm(r, b.inner, 0, &b.post);
    if (first) {
      conv_from_stream(r, s, normed, b.pre, img(r, t.x, mid), b.pre_conv.arg(),
                       make_epilogue(epi::store_norm_act(img(r, t.normed, mid), norm_act_prologue(r, *first))));
      t_normed = true;
    } else {
      conv_from_stream(r, s, normed, b.pre, img(r, t.x, mid), b.pre_conv.arg(), make_epilogue());
    }
    for (std::size_t i = 0; i < b.inner.size(); ++i) t_normed = apply(r, b.inner[i], t, t_normed, next_norm(r, b.inner, i + 1, &b.post));
    const Stream tt{t.x, mid, t_normed ? t.normed : nullptr};
    const auto y = img(r, s.x, s.c);
    if (next && s.normed) {
      conv_from_stream(r, tt, t_normed, b.post, y, b.post_conv.arg(),
                       make_epilogue(epi::residual(y), epi::store_norm_act(img(r, s.normed, s.c), norm_act_prologue(r, *next))));
      return true;
    }
    conv_from_stream(r, tt, t_normed, b.post, y, b.post_conv.arg(), make_epilogue(epi::residual(y)));
    return false;
  }

  bool apply(const Run& r, const FfnL<T, S>& b, const Stream& s, bool, const ChannelAffine<S>*) const {
    Ctx& ctx = r.ctx;
    T* xs = s.x;
    const index_t c = s.c;
    rmsnorm(ctx, rows(r, r.ws.xn.data(), c), rows(r, static_cast<const T*>(xs), c), b.norm, RmsNormOptions{b.eps});
    gemm(ctx, rows(r, r.ws.ffn.data(), b.ffn), rows(r, static_cast<const T*>(r.ws.xn.data()), c), b.w1,
         make_epilogue(epi::gate<act::Silu>(GateLayout::concatenated)));
    gemm(ctx, rows(r, xs, c), rows(r, static_cast<const T*>(r.ws.ffn.data()), b.ffn), b.w2, make_epilogue(epi::residual(rows(r, xs, c))));
    return false;
  }

  bool apply(const Run& r, const AttentionL<T, S>& b, const Stream& s, bool, const ChannelAffine<S>*) const {
    Ctx& ctx = r.ctx;
    T* xs = s.x;
    const index_t c = s.c;
    const index_t N = r.n, L = HW_, tokens = N * L, Hq = b.heads, group = b.heads / b.kv_heads;
    const index_t Q = Hq * b.qd, K = b.kv_heads * b.qd, V = b.kv_heads * b.vd, qkvc = Q + K + V;
    rmsnorm(ctx, rows(r, r.ws.xn.data(), c), rows(r, static_cast<const T*>(xs), c), b.norm, RmsNormOptions{b.eps});
    T* qkv = r.ws.qkv.data();
    gemm(ctx, rows(r, qkv, qkvc), rows(r, static_cast<const T*>(r.ws.xn.data()), c), b.qkv);
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
    TensorView<float, 4, S> scores(r.ws.scores.data(), {N, Hq, L, L}, score_strides);
    for (index_t h = 0; h < Hq; ++h) {
      const index_t kh = h / group;
      TensorView<const T, 3, S> qh(qkv + h * b.qd, {N, L, b.qd}, {L * qkvc, qkvc, 1});
      TensorView<const T, 3, S> kt(qkv + Q + kh * b.qd, {N, b.qd, L}, {L * qkvc, 1, qkvc});
      gemm(ctx, TensorView<float, 3, S>(r.ws.scores.data() + h * L * lp_, {N, L, L}, {Hq * L * lp_, lp_, 1}), qh, kt);
    }
    softmax(ctx, scores, scores, TensorView<const float, 4, S>(r.ws.addmask.data(), {N, 1, 1, L}),
            SoftmaxOptions{1.0f / std::sqrt(static_cast<float>(b.qd))});
    const T* probs = nullptr;
    if constexpr (std::is_same_v<T, float>) {
      probs = r.ws.scores.data();
    } else {
      copy(ctx, TensorView<T, 4, S>(r.ws.probs.data(), {N, Hq, L, L}, score_strides), scores);
      probs = r.ws.probs.data();
    }
    for (index_t h = 0; h < Hq; ++h) {
      const index_t kh = h / group;
      TensorView<const T, 3, S> ph(probs + h * L * lp_, {N, L, L}, {Hq * L * lp_, lp_, 1});
      TensorView<const T, 3, S> vh(qkv + Q + K + kh * b.vd, {N, L, b.vd}, {L * qkvc, qkvc, 1});
      gemm(ctx, TensorView<T, 3, S>(r.ws.attn.data() + h * b.vd, {N, L, b.vd}, {L * Hq * b.vd, Hq * b.vd, 1}), ph, vh);
    }
    gemm(ctx, rows(r, xs, c), rows(r, static_cast<const T*>(r.ws.attn.data()), Hq * b.vd), b.out, make_epilogue(epi::residual(rows(r, xs, c))));
    return false;
  }

  // 0 for on-board keys, -1e4 for off-board ones (exp underflows to 0; finite, so fp16 stays finite).
  void attention_mask(const Run& r) const {
    Ctx& ctx = r.ctx;
    const index_t N = r.n;
    TensorView<const T, 4, S> m(r.ws.mask.data(), {N, 1, 1, HW_});
    axpby(ctx, TensorView<float, 4, S>(r.ws.addmask.data(), {N, 1, 1, HW_}), m,
          TensorView<const float, 4, S>(one_.data(), {1, 1, 1, 1}), 1e4, -1e4);
  }

  // ---- heads ----
  // tip_normed: the last block left the tip's NormAct of the trunk in r.ws.nx.
  void heads(const Run& r, const OutputViews<S>& out, bool tip_normed) const {
    Ctx& ctx = r.ctx;
    const index_t N = r.n;
    // Trunk tip into r.ws.a (or already in r.ws.nx).
    T* tip_data = tip_normed ? r.ws.nx.data() : r.ws.a.data();
    if (tip_rms_) {
      rmsnorm(ctx, rows(r, r.ws.a.data(), C_), rows(r, static_cast<const T*>(r.ws.x.data()), C_), tip_gamma_, RmsNormOptions{tip_eps_});
      norm_act(ctx, img(r, r.ws.a.data(), C_), img(r, r.ws.a.data(), C_), tip_.scale, tip_.bias, mask(r), tip_.act);
    } else if (!tip_normed) {
      norm_act(ctx, img(r, r.ws.a.data(), C_), img(r, r.ws.x.data(), C_), tip_.scale, tip_.bias, mask(r), tip_.act);
    }
    const auto tip = img(r, static_cast<const T*>(tip_data), C_);
    // Policy.
    const index_t g1 = g1_.cout, p1 = p1_.cout;
    conv2d(ctx, img(r, r.ws.g.data(), g1), tip, g1_.arg(), norm_act_epilogue(r, g1n_));
    global_pool(ctx, TensorView<T, 2, S>(r.ws.pooled.data(), {N, 3 * g1}), img(r, r.ws.g.data(), g1), mask(r), PoolKind::katago);
    const auto gp = mat(r.ws.pooled.data(), N, 3 * g1);
    gemm(ctx, TensorView<float, 2, S>(r.ws.vecf.data(), {N, p1}), gp, gpool_to_bias_);
    conv2d(ctx, img(r, r.ws.b.data(), p1), tip, p1_.arg(),
           make_epilogue(epi::residual(broadcast(r, r.ws.vecf.data(), p1)), epi::scale_bias(p1n_.scale, p1n_.bias),
                         epi::activation(p1n_.act), epi::board_mask(mask(r))));
    conv2d(ctx, out.policy, img(r, static_cast<const T*>(r.ws.b.data()), p1), p2_.arg());
    if (pass_mlp_) {
      const index_t ph = gpool_to_pass_.size(1);
      gemm(ctx, TensorView<T, 2, S>(r.ws.vect.data(), {N, ph}), gp, gpool_to_pass_, make_epilogue(epi::bias(pass_b_), epi::activation(pass_act_)));
      gemm(ctx, out.pass, mat(r.ws.vect.data(), N, ph), pass2_);
    } else {
      gemm(ctx, out.pass, gp, gpool_to_pass_);
    }
    // Value, score and ownership.
    const index_t v1 = v1_.cout, v2 = v2_.size(1);
    conv2d(ctx, img(r, r.ws.g.data(), v1), tip, v1_.arg(), norm_act_epilogue(r, v1n_));
    global_pool(ctx, TensorView<T, 2, S>(r.ws.pooled.data(), {N, 3 * v1}), img(r, r.ws.g.data(), v1), mask(r), PoolKind::value_head);
    gemm(ctx, TensorView<T, 2, S>(r.ws.vect.data(), {N, v2}), mat(r.ws.pooled.data(), N, 3 * v1), v2_,
         make_epilogue(epi::bias(v2b_), epi::activation(v2a_)));
    const auto vh = mat(r.ws.vect.data(), N, v2);
    gemm(ctx, out.value, vh, v3_, make_epilogue(epi::bias(v3b_)));
    gemm(ctx, out.score, vh, sv3_, make_epilogue(epi::bias(sv3b_)));
    conv2d(ctx, out.ownership, img(r, static_cast<const T*>(r.ws.g.data()), v1), own_.arg());
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

  // Buffer widths and the constant device tensors, once at construction.
  void plan(Ctx& ctx) {
    for (const auto& b : blocks_) widths(b, C_, w_);
    if (!has_attention_) return;
    lp_ = (HW_ + 7) / 8 * 8;  // score rows padded to 32 bytes
    const index_t px = max_n_ * HW_;
    std::vector<std::int32_t> row(static_cast<std::size_t>(px)), col(row.size());
    for (index_t i = 0; i < px; ++i) {
      row[i] = static_cast<std::int32_t>(i % HW_ / W_);
      col[i] = static_cast<std::int32_t>(i % W_);
    }
    pos_row_ = upload<std::int32_t>(ctx, row, Shape<1>{px}, "rope rows");
    pos_col_ = upload<std::int32_t>(ctx, col, Shape<1>{px}, "rope columns");
    one_ = upload<float>(ctx, std::vector<float>{1.f}, Shape<1>{1}, "one");
  }

  void allocate(Ctx& ctx, Workspace& ws) const {
    const Widths& w = w_;
    const index_t px = max_n_ * HW_;
    const index_t mid = std::max({w.mid, w.stream, C_, p1_.cout});
    const index_t gw = std::max({w.mid, g1_.cout, v1_.cout});
    const index_t vec = std::max({w.vec, C_, p1_.cout, gpool_to_pass_.size(1), v2_.size(1),
                                  has_meta_ ? meta1_.size(1) : 0, has_meta_ ? meta2_.size(1) : 0});
    auto buf = [&](auto& t, index_t n) { t = std::remove_cvref_t<decltype(t)>(Shape<1>{std::max<index_t>(n, 1)}, ctx); };
    buf(ws.in, px * cin_stored_);
    if (cin_stored_ != cin_) fill(ctx, ws.in, 0.0);  // the padding channels, never written again
    buf(ws.mask, px);
    buf(ws.glob, max_n_ * std::max(gin_, meta_in_));
    buf(ws.x, px * C_);
    buf(ws.t, px * t_width_);
    buf(ws.a, px * mid);
    buf(ws.b, px * mid);
    buf(ws.g, px * gw);
    buf(ws.pooled, max_n_ * std::max({w.pooled, 3 * g1_.cout, 3 * v1_.cout}));
    buf(ws.vecf, max_n_ * vec);
    buf(ws.vect, max_n_ * vec);
    buf(ws.vect2, max_n_ * vec);
    if (has_attention_) {
      buf(ws.qkv, px * w.qkv);
      buf(ws.scores, max_n_ * w.heads * HW_ * lp_);
      if constexpr (!std::is_same_v<T, float>) buf(ws.probs, max_n_ * w.heads * HW_ * lp_);
      buf(ws.attn, px * w.attn);
      buf(ws.addmask, max_n_ * HW_);
    }
    if (has_attention_ || w.ffn > 0) buf(ws.xn, px * w.stream);  // the normalised tokens of either block
    if (w.ffn > 0) buf(ws.ffn, px * w.ffn);
    if (const index_t npx = producer_max_batch() * HW_; npx > 0) {  // sized for the largest batch that runs it
      buf(ws.nx, npx * C_);
      buf(ws.nt, npx * t_width_);
    }
    ws.owner = this;
  }

  std::string name_;
  int version_;
  index_t H_, W_, HW_, max_n_, cin_, cin_stored_, gin_, C_, P_, SV_;
  bool divided_by_8_ = false;
  ConvOptions prologue_opt_;  // for convs with a NormAct prologue
  NormActPlacement placement_ = NormActPlacement::consumer;  // automatic only on the GPU
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
  // what workspaces hold (flat buffers; views give them shape per batch), and constants
  Widths w_;
  bool has_attention_ = false;
  index_t t_width_ = 0, lp_ = 0;
  Tensor<float, 1, S> one_;
  Tensor<std::int32_t, 1, S> pos_row_, pos_col_;
};

}  // namespace fusekit::katago
