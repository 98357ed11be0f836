#pragma once
// Writes a ModelDesc (katago/model_desc.hpp) in KataGo's model format, the inverse of
// katago::read_model: binary ("@BIN@" float blocks, as KataGo's exporter writes them) or text floats,
// optionally gzipped. Tests use it for round trips and for random-weight networks.
//   katago::write_model(desc, "net.bin.gz");      // encoding and gzip from the name, as read_model
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <type_traits>
#include <variant>

#include "fusekit/core/format.hpp"
#include "fusekit/io/file_bytes.hpp"
#include "fusekit/katago/model_reader.hpp"

namespace fusekit::katago {

class ModelWriter {
 public:
  ModelWriter(const ModelDesc& m, FloatEncoding enc) : m_(m), enc_(enc) {}

  std::string write() {
    out_.clear();
    line(m_.name), line(m_.version), line(m_.num_spatial_inputs), line(m_.num_global_inputs);
    const PostProcess& p = m_.post;
    if (m_.version >= 13)
      for (float f : {p.td_score, p.score_mean, p.score_stdev, p.lead, p.var_time, p.shortterm_value_error,
                      p.shortterm_score_error})
        line(f);
    if (m_.version >= 15) {
      line(m_.meta_encoder_version), line(m_.prefer_pass_alive_under_suicide ? 1 : 0);
      for (int i = 0; i < 6; ++i) line(0);
    }
    trunk(m_.trunk);
    policy(m_.policy);
    value(m_.value);
    return out_;
  }

 private:
  const ModelDesc& m_;
  FloatEncoding enc_;
  std::string out_;

  template <class V>
  void line(const V& v) {
    out_ += fmt::format("{}\n", v);  // floats in their shortest exact form
  }
  void floats(const std::vector<float>& v) {
    if (enc_ == FloatEncoding::binary) {
      out_ += "@BIN@";
      const std::size_t at = out_.size();
      out_.resize(at + 4 * v.size());
      if (!v.empty()) std::memcpy(out_.data() + at, v.data(), 4 * v.size());  // little-endian hosts
      out_ += '\n';
    } else {
      for (float f : v) line(f);
    }
  }
  void conv(const ConvLayer& c) {
    line(c.name), line(c.ky), line(c.kx), line(c.in_c), line(c.out_c), line(c.dil_y), line(c.dil_x);
    floats(c.w);
  }
  void bn(const BatchNormLayer& n) {
    line(n.name), line(n.c), line(n.eps), line(n.has_scale ? 1 : 0), line(n.has_bias ? 1 : 0);
    floats(n.mean), floats(n.var);
    if (n.has_scale) floats(n.scale);
    if (n.has_bias) floats(n.bias);
  }
  void act(const ActivationLayer& a) {
    line(a.name);
    if (m_.version < 11) return;
    constexpr const char* names[] = {"ACTIVATION_IDENTITY", "ACTIVATION_RELU", "ACTIVATION_MISH", "ACTIVATION_SILU"};
    const int k = static_cast<int>(a.kind);
    if (k >= 4) fail("KataGo model writer: '{}' holds fusekit's internal fp16 scale-8 activation, which no file names", a.name);
    line(names[k]);
  }
  void matmul(const MatMulLayer& l) { line(l.name), line(l.in_c), line(l.out_c), floats(l.w); }
  void matbias(const MatBiasLayer& l) { line(l.name), line(l.c), floats(l.b); }
  void rms(const RmsNormLayer& n, bool with_beta) {
    line(n.name), line(n.c), line(n.eps);
    if (with_beta) line(n.spatial ? 1 : 0), line(0);
    floats(n.gamma);
    if (with_beta) floats(n.beta);
  }
  void block(const Block& b) {
    std::visit(
        [&](const auto& k) {
          using K = std::decay_t<decltype(k)>;
          if constexpr (std::is_same_v<K, OrdinaryBlock>) {
            line("ordinary_block"), line(k.name);
            bn(k.pre_bn), act(k.pre_act), conv(k.conv1), bn(k.mid_bn), act(k.mid_act), conv(k.conv2);
          } else if constexpr (std::is_same_v<K, GlobalPoolBlock>) {
            line("gpool_block"), line(k.name);
            bn(k.pre_bn), act(k.pre_act), conv(k.regular_conv), conv(k.gpool_conv), bn(k.gpool_bn), act(k.gpool_act);
            matmul(k.gpool_to_bias), bn(k.mid_bn), act(k.mid_act), conv(k.final_conv);
          } else if constexpr (std::is_same_v<K, NestedBottleneckBlock>) {
            line("nested_bottleneck_block"), line(k.name), line(k.inner.size());
            bn(k.pre_bn), act(k.pre_act), conv(k.pre_conv);
            for (const Block& i : k.inner) block(i);
            bn(k.post_bn), act(k.post_act), conv(k.post_conv);
          } else if constexpr (std::is_same_v<K, AttentionBlock>) {
            line("transformer_attention_block"), line(k.name), line(k.heads), line(k.kv_heads), line(k.q_head_dim);
            line(k.v_head_dim), line(k.use_rope ? 1 : 0), line(k.learnable_rope ? 1 : 0);
            rms(k.norm, false), matmul(k.q), matmul(k.k), matmul(k.v), matmul(k.out);
            if (k.use_rope) {
              line(k.rope_name);
              if (k.learnable_rope) line(k.kv_heads), line(k.rope_pairs), line(2), floats(k.rope_table);
              else line(k.rope_theta);
            }
          } else {
            line("transformer_ffn_block"), line(k.name), line(k.c), line(k.ffn_c), line(k.swiglu ? 1 : 0);
            rms(k.norm, false), matmul(k.w1);
            if (k.swiglu) matmul(k.gate);
            matmul(k.w2);
          }
        },
        b.kind);
  }
  void trunk(const Trunk& t) {
    line(t.name), line(t.num_blocks), line(t.trunk_c), line(t.mid_c), line(t.regular_c), line(t.dilated_c),
        line(t.gpool_c);
    if (m_.version >= 15) {
      line(t.norm_kind);
      for (int i = 0; i < 5; ++i) line(0);
    }
    conv(t.initial_conv), matmul(t.initial_matmul);
    if (m_.meta_encoder_version > 0) {
      const MetaEncoder& e = t.meta;
      line(e.name), line(e.num_inputs), matmul(e.mul1), matbias(e.bias1), act(e.act1), matmul(e.mul2),
          matbias(e.bias2), act(e.act2), matmul(e.mul3);
    }
    for (const Block& b : t.blocks) block(b);
    if (t.norm_kind == 0) bn(t.tip_bn);
    else rms(t.tip_rms, true);
    act(t.tip_act);
  }
  void policy(const PolicyHead& p) {
    line(p.name);
    if (m_.version >= 17) line(p.out_channels), line(0), line(0), line(0);
    conv(p.p1_conv), conv(p.g1_conv), bn(p.g1_bn), act(p.g1_act), matmul(p.gpool_to_bias), bn(p.p1_bn), act(p.p1_act);
    conv(p.p2_conv), matmul(p.gpool_to_pass);
    if (p.pass_mlp) matbias(p.pass_bias), act(p.pass_act), matmul(p.pass2);
  }
  void value(const ValueHead& v) {
    line(v.name);
    if (m_.version >= 17) line(0), line(0), line(0);
    conv(v.v1_conv), bn(v.v1_bn), act(v.v1_act), matmul(v.v2_mul), matbias(v.v2_bias), act(v.v2_act);
    matmul(v.v3_mul), matbias(v.v3_bias), matmul(v.sv3_mul), matbias(v.sv3_bias), conv(v.ownership_conv);
  }
};

inline std::string write_model_bytes(const ModelDesc& m, FloatEncoding enc) { return ModelWriter(m, enc).write(); }

// `path` ending in .gz is gzipped; .txt / .txt.gz get text floats, anything else binary.
inline void write_model(const ModelDesc& m, const std::string& path) {
  auto ends = [&](std::string_view s) { return path.size() >= s.size() && path.compare(path.size() - s.size(), s.size(), s) == 0; };
  std::string bytes = write_model_bytes(m, ends(".txt") || ends(".txt.gz") ? FloatEncoding::text : FloatEncoding::binary);
  if (ends(".gz")) bytes = io::gzip(bytes);
  std::ofstream f(path, std::ios::binary);
  if (!f) fail("cannot create '{}'", path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail("error writing '{}'", path);
}

}  // namespace fusekit::katago
