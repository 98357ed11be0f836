#pragma once
// KataGo's fp16 range trick (applyScale8ToReduceActivations in KataGo's desc.cpp): a net whose
// activations are stored divided by 8. Every layer of a convolutional trunk is positively homogeneous
// except the activations' curvature, so
//   stem and global-input matmul (and the metadata encoder's last matmul) x 1/8   -> trunk values / 8
//   every folded batch norm's bias x 1/8, its activation f -> f(8x)/8            -> stays / 8
//   convolutions and matmuls without bias, global pooling                        -> linear, stay / 8
//   the value head's hidden bias x 1/8 (its activation as above)
//   the layers that produce outputs (policy conv, pass matmul, value and score matmuls, ownership
//   conv) x 8, their biases unchanged                                            -> outputs as before
// Same function, activations 8 times further from fp16's 65504. Transformer trunks (v17) are left alone:
// their RMSNorms undo any scale.
#include <type_traits>
#include <variant>
#include <vector>

#include "fusekit/katago/model_desc.hpp"

namespace fusekit::katago {

namespace detail {

inline void scale(std::vector<float>& v, float f) {
  for (float& x : v) x *= f;
}
inline void scale8_act(ActivationLayer& a) {
  if (a.kind == Activation::mish) a.kind = Activation::mish_scale8;
  else if (a.kind == Activation::silu) a.kind = Activation::silu_scale8;
  // identity and ReLU are homogeneous: f(8x)/8 = f(x)
}
inline void scale8_norm_act(BatchNormLayer& bn, ActivationLayer& a) {
  scale(bn.merged_bias, 0.125f);
  scale8_act(a);
}
inline void scale8_block(Block& b) {
  std::visit(
      [](auto& k) {
        using K = std::remove_cvref_t<decltype(k)>;
        if constexpr (std::is_same_v<K, OrdinaryBlock>) {
          scale8_norm_act(k.pre_bn, k.pre_act), scale8_norm_act(k.mid_bn, k.mid_act);
        } else if constexpr (std::is_same_v<K, GlobalPoolBlock>) {
          scale8_norm_act(k.pre_bn, k.pre_act), scale8_norm_act(k.gpool_bn, k.gpool_act);
          scale8_norm_act(k.mid_bn, k.mid_act);
        } else if constexpr (std::is_same_v<K, NestedBottleneckBlock>) {
          scale8_norm_act(k.pre_bn, k.pre_act), scale8_norm_act(k.post_bn, k.post_act);
          for (Block& inner : k.inner) scale8_block(inner);
        }
      },
      b.kind);
}

}  // namespace detail

// Whether scale8 applies: a convolutional trunk with a batch-norm tip.
inline bool scale8_applies(const ModelDesc& m) {
  if (m.trunk.norm_kind != 0) return false;
  for (const Block& b : m.trunk.blocks)
    if (std::holds_alternative<AttentionBlock>(b.kind) || std::holds_alternative<FfnBlock>(b.kind)) return false;
  return true;
}

// The same network with activations stored divided by 8 (unchanged when scale8_applies is false).
inline ModelDesc scale8_for_fp16(ModelDesc m) {
  if (!scale8_applies(m)) return m;
  using detail::scale;
  Trunk& t = m.trunk;
  scale(t.initial_conv.w, 0.125f);
  scale(t.initial_matmul.w, 0.125f);
  if (t.has_meta) scale(t.meta.mul3.w, 0.125f);
  for (Block& b : t.blocks) detail::scale8_block(b);
  detail::scale8_norm_act(t.tip_bn, t.tip_act);
  PolicyHead& p = m.policy;
  detail::scale8_norm_act(p.g1_bn, p.g1_act);
  detail::scale8_norm_act(p.p1_bn, p.p1_act);
  scale(p.p2_conv.w, 8.f);
  if (p.pass_mlp) {
    scale(p.pass_bias.b, 0.125f);
    detail::scale8_act(p.pass_act);
    scale(p.pass2.w, 8.f);
  } else {
    scale(p.gpool_to_pass.w, 8.f);
  }
  ValueHead& v = m.value;
  detail::scale8_norm_act(v.v1_bn, v.v1_act);
  scale(v.v2_bias.b, 0.125f);
  detail::scale8_act(v.v2_act);
  scale(v.v3_mul.w, 8.f);
  scale(v.sv3_mul.w, 8.f);
  scale(v.ownership_conv.w, 8.f);
  return m;
}

}  // namespace fusekit::katago
