#pragma once
// Floating-point work of one KataGo evaluation (2 FLOP per multiply-add; convolutions, matmuls and
// attention's score and P V products; no Winograd savings counted), as FORMAT.md 1.3 counts it: 18.87
// GFLOP for b18c384nbt on 19x19. Benchmarks report effective TFLOP/s from it.
#include <variant>

#include "fusekit/katago/model_desc.hpp"

namespace fusekit::katago {

namespace detail {
inline double conv_flops(const ConvLayer& c, double cells) { return 2.0 * c.ky * c.kx * c.in_c * c.out_c * cells; }
inline double matmul_flops(const MatMulLayer& m, double rows) { return 2.0 * m.in_c * m.out_c * rows; }

inline double block_flops(const Block& b, double cells) {
  return std::visit(
      [&](const auto& k) -> double {
        using K = std::decay_t<decltype(k)>;
        if constexpr (std::is_same_v<K, OrdinaryBlock>) {
          return conv_flops(k.conv1, cells) + conv_flops(k.conv2, cells);
        } else if constexpr (std::is_same_v<K, GlobalPoolBlock>) {
          return conv_flops(k.regular_conv, cells) + conv_flops(k.gpool_conv, cells) + matmul_flops(k.gpool_to_bias, 1) +
                 conv_flops(k.final_conv, cells);
        } else if constexpr (std::is_same_v<K, NestedBottleneckBlock>) {
          double f = conv_flops(k.pre_conv, cells) + conv_flops(k.post_conv, cells);
          for (const Block& i : k.inner) f += block_flops(i, cells);
          return f;
        } else if constexpr (std::is_same_v<K, AttentionBlock>) {
          const double proj = matmul_flops(k.q, cells) + matmul_flops(k.k, cells) + matmul_flops(k.v, cells) +
                              matmul_flops(k.out, cells);
          return proj + 2.0 * cells * cells * k.heads * (k.q_head_dim + k.v_head_dim);
        } else {
          return matmul_flops(k.w1, cells) + (k.swiglu ? matmul_flops(k.gate, cells) : 0.0) + matmul_flops(k.w2, cells);
        }
      },
      b.kind);
}
}  // namespace detail

inline double flops_per_position(const ModelDesc& m, int board_h = 19, int board_w = 19) {
  using namespace detail;
  const double cells = static_cast<double>(board_h) * board_w;
  const Trunk& t = m.trunk;
  double f = conv_flops(t.initial_conv, cells) + matmul_flops(t.initial_matmul, 1);
  if (t.has_meta) f += matmul_flops(t.meta.mul1, 1) + matmul_flops(t.meta.mul2, 1) + matmul_flops(t.meta.mul3, 1);
  for (const Block& b : t.blocks) f += block_flops(b, cells);
  const PolicyHead& p = m.policy;
  f += conv_flops(p.p1_conv, cells) + conv_flops(p.g1_conv, cells) + matmul_flops(p.gpool_to_bias, 1) +
       conv_flops(p.p2_conv, cells) + matmul_flops(p.gpool_to_pass, 1) + (p.pass_mlp ? matmul_flops(p.pass2, 1) : 0.0);
  const ValueHead& v = m.value;
  f += conv_flops(v.v1_conv, cells) + matmul_flops(v.v2_mul, 1) + matmul_flops(v.v3_mul, 1) + matmul_flops(v.sv3_mul, 1) +
       conv_flops(v.ownership_conv, cells);
  return f;
}

}  // namespace fusekit::katago
