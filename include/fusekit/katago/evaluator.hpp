#pragma once
// katago::Evaluator<Ctx, T>: host inputs in, host outputs out, for any batch 1..max_batch.
//   cpu::Context: runs the network on the host views directly.
//   hip::Stream:  stages the inputs into device buffers, runs the whole forward pass as one graph
//                 (captured the first time each batch size is seen, after one uncaptured run that sizes
//                 the stream's workspaces; replayed afterwards), and copies the outputs back.
// Inputs: spatial [N, Cin, H, W] and global [N, G] fp32, contiguous (KataGo's NCHW fill order);
// meta [N, 192] for nets with a metadata encoder.
#include <map>
#include <memory>

#include "fusekit/katago/network.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/backend/hip/graph.hpp"
#endif

namespace fusekit::katago {

// (Rank-2 members first: hipcc's clang 15 crashes on a struct with a rank-4 tensor before a rank-2 one.)
struct Outputs {
  HostTensor<float, 2> pass;       // [N, P]
  HostTensor<float, 2> value;      // [N, 3]
  HostTensor<float, 2> score;      // [N, S]
  HostTensor<float, 4> policy;     // [N, P, H, W]
  HostTensor<float, 4> ownership;  // [N, 1, H, W]
};

// Views of every output, for Evaluator::evaluate's output-view form. (A free function: hipcc's clang 15
// crashes on a member function of Outputs.)
inline OutputViews<HostSpace> views_of(Outputs& o) {
  OutputViews<HostSpace> v;
  v.policy = o.policy.view();
  v.pass = o.pass.view();
  v.value = o.value.view();
  v.score = o.score.view();
  v.ownership = o.ownership.view();
  return v;
}

template <class Ctx, class T = float>
class Evaluator {
 public:
  using Net = Network<Ctx, T>;
  static constexpr bool on_device = !std::is_same_v<typename Ctx::space, HostSpace>;

  // Builds the network from `d` for this evaluator alone.
  Evaluator(Ctx& ctx, const ModelDesc& d, const NetworkOptions& opt = {}, bool use_graph = true)
      : Evaluator(ctx, std::make_shared<const Net>(ctx, d, opt), use_graph) {}

  // Shares a network built once (its weights are read-only): one evaluator per thread, each with its own
  // context or stream, evaluates the same network concurrently. On the GPU the network must have been
  // built on the same device.
  Evaluator(Ctx& ctx, std::shared_ptr<const Net> net, bool use_graph = true)
      : ctx_(ctx), shared_(non_null(std::move(net))), net_(*shared_), ws_(net_.make_workspace(ctx)), use_graph_(use_graph) {
    if constexpr (on_device) {
      const index_t n = net_.max_batch(), H = net_.board_h(), W = net_.board_w();
      spatial_ = Tensor<float, 4, DeviceSpace>({n, net_.spatial_inputs(), H, W}, ctx);
      global_ = Tensor<float, 2, DeviceSpace>({n, net_.global_inputs()}, ctx);
      meta_ = Tensor<float, 2, DeviceSpace>({n, std::max<index_t>(net_.meta_inputs(), 1)}, ctx);
      out_.pass = Tensor<float, 2, DeviceSpace>({n, net_.policy_channels()}, ctx);
      out_.value = Tensor<float, 2, DeviceSpace>({n, 3}, ctx);
      out_.score = Tensor<float, 2, DeviceSpace>({n, net_.score_channels()}, ctx);
      out_.policy = Tensor<float, 4, DeviceSpace>({n, net_.policy_channels(), H, W}, ctx);
      out_.ownership = Tensor<float, 4, DeviceSpace>({n, 1, H, W}, ctx);
    }
  }

  Ctx& context() { return ctx_; }
  const Net& network() const { return net_; }
  const std::shared_ptr<const Net>& shared_network() const { return shared_; }

  Outputs make_outputs(index_t n) const {
    const index_t H = net_.board_h(), W = net_.board_w(), P = net_.policy_channels();
    return {.pass = HostTensor<float, 2>({n, P}), .value = HostTensor<float, 2>({n, 3}),
            .score = HostTensor<float, 2>({n, net_.score_channels()}), .policy = HostTensor<float, 4>({n, P, H, W}),
            .ownership = HostTensor<float, 4>({n, 1, H, W})};
  }

  Outputs evaluate(const HostView<const float, 4>& spatial, const HostView<const float, 2>& global,
                   const HostView<const float, 2>& meta = {}) {
    Outputs o = make_outputs(spatial.size(0));
    evaluate(spatial, global, meta, views_of(o));
    return o;
  }

  void evaluate(const HostView<const float, 4>& spatial, const HostView<const float, 2>& global,
                const HostView<const float, 2>& meta, const OutputViews<HostSpace>& out) {
    const index_t n = spatial.size(0);
    if constexpr (!on_device) {
      (void)n;
      net_.forward(ctx_, ws_, {spatial, global, meta}, out);
    } else {
#if FUSEKIT_GPUCC
      FUSEKIT_CHECK(n <= net_.max_batch(), "katago::Evaluator '{}': batch {} exceeds max_batch {}", net_.name(), n, net_.max_batch());
      FUSEKIT_CHECK(spatial.is_contiguous() && global.is_contiguous() && (meta.empty() || meta.is_contiguous()),
                    "katago::Evaluator: host inputs must be contiguous (spatial {}, global {})", spatial.shape(), global.shape());
      if (n == 0) return;
      const Device d = device_views(n);
      copy_async(ctx_, d.in.spatial_mut, spatial);
      copy_async(ctx_, d.in.global_mut, global);
      if (net_.meta_inputs() > 0) copy_async(ctx_, d.in.meta_mut, meta);
      run(n, d);
      copy_async(ctx_, out.policy, d.out.policy);
      copy_async(ctx_, out.pass, d.out.pass);
      copy_async(ctx_, out.value, d.out.value);
      copy_async(ctx_, out.score, d.out.score);
      copy_async(ctx_, out.ownership, d.out.ownership);
      ctx_.synchronize();
#endif
    }
  }

  // Device side only: the forward pass on inputs already staged by the previous evaluate (for timing
  // the network alone). Replays the graph when graphs are on.
  void run_staged(index_t n) {
    if constexpr (on_device) run(n, device_views(n));
  }

 private:
  struct DeviceIn {
    TensorView<float, 4, DeviceSpace> spatial_mut;
    TensorView<float, 2, DeviceSpace> global_mut, meta_mut;
  };
  struct Device {
    DeviceIn in;
    OutputViews<DeviceSpace> out;
  };

  Device device_views(index_t n) {
    auto first = [n](auto& t) { return t.view().slice(0, 0, n); };
    Device d{{first(spatial_), first(global_), first(meta_)},
             {first(out_.policy), first(out_.pass), first(out_.value), first(out_.score), first(out_.ownership)}};
    return d;
  }

  void run(index_t n, const Device& d) {
    if constexpr (on_device) {
#if FUSEKIT_GPUCC
      const InputViews<DeviceSpace> in{d.in.spatial_mut, d.in.global_mut,
                                       net_.meta_inputs() > 0 ? TensorView<const float, 2, DeviceSpace>(d.in.meta_mut)
                                                              : TensorView<const float, 2, DeviceSpace>{}};
      if (!use_graph_) {
        net_.forward(ctx_, ws_, in, d.out);
        return;
      }
      auto it = graphs_.find(n);
      if (it == graphs_.end()) {
        net_.forward(ctx_, ws_, in, d.out);  // sizes the workspaces, so that capture allocates nothing
        ctx_.synchronize();
        it = graphs_.emplace(n, hip::capture(ctx_, [&](hip::Stream& s) { net_.forward(s, ws_, in, d.out); })).first;
      }
      it->second.replay(ctx_);
#endif
    }
  }

  struct DeviceOut {  // rank-2 first (see Outputs)
    Tensor<float, 2, DeviceSpace> pass, value, score;
    Tensor<float, 4, DeviceSpace> policy, ownership;
  };

  Ctx& ctx_;
  static std::shared_ptr<const Net> non_null(std::shared_ptr<const Net> net) {
    FUSEKIT_CHECK(net != nullptr, "katago::Evaluator: the shared network is null");
    return net;
  }

  std::shared_ptr<const Net> shared_;
  const Net& net_;
  typename Net::Workspace ws_;
  bool use_graph_;
  Tensor<float, 4, DeviceSpace> spatial_;
  Tensor<float, 2, DeviceSpace> global_, meta_;
  DeviceOut out_;
#if FUSEKIT_GPUCC
  std::map<index_t, hip::Graph> graphs_;
#endif
};

}  // namespace fusekit::katago
