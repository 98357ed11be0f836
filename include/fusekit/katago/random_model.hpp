#pragma once
// Random-weight KataGo networks of a named architecture, for tests and benchmarks when no trained file
// of that shape is at hand (no b18c384nbt file can be had here):
//   katago::random_model("b18c384nbt", seed)   KataGo's b18c384nbt (FORMAT.md 1.2): v15, Mish, 18
//                                              nested-bottleneck blocks of 2 inner blocks, a gpool inner
//                                              block in outer blocks 2, 5, 8, 11, 14; heads 48/48/96/128
//   "b6c96", "b10c128", "b15c192", "b20c256"    classic residual nets, v15, Mish, 3x3 stem, every third
//                                              block (2, 5, 8, ...) but the last a global-pooling block
//   "bNcC" / "bNcCnbt"                          the same rules for any N blocks of C channels:
//                                              classic: regular = C - C/4, gpool = C/4;
//                                              nbt: mid = C/2, regular = 2 mid/3, gpool = mid/3;
//                                              heads p1 = g1 = max(16, C/8), v1 = max(32, C/4), v2 = 2 v1
//   "b7c96tf"                                  a v17 transformer trunk like KataGo's b7c96h3tfrs test
//                                              net: 7 x (attention, 3 heads of 32, 2-D RoPE; SwiGLU FFN
//                                              256), RMSNorm tip, SiLU
// Weights are uniform with the variance of He initialisation (residual branches' last layers scaled
// down, so that deep trunks stay in fp16 range), batch norms carry real means and variances. The same
// name and seed give the same bytes on every machine (own integer RNG). The result has gone through
// write_model_bytes and read_model_bytes, so it is exactly what a file of it loads as.
#include <cmath>
#include <cstdint>
#include <string>

#include "fusekit/katago/model_reader.hpp"
#include "fusekit/katago/model_writer.hpp"

namespace fusekit::katago {

struct Architecture {
  std::string name;
  int version = 15;
  int blocks = 0, trunk_c = 0, mid_c = 0, regular_c = 0, gpool_c = 0;
  bool nested = false, transformer = false;
  int p1 = 0, g1 = 0, v1 = 0, v2 = 0;
  Activation act = Activation::mish;
  int heads = 3, head_dim = 32, ffn = 256;
};

inline Architecture architecture(const std::string& name) {
  if (name == "b7c96tf") {
    Architecture a{name, 17, 7, 96, 96, 0, 0, false, true, 32, 32, 32, 64, Activation::silu};
    return a;
  }
  // bNcC or bNcCnbt (no <regex>: hipcc's clang 15 crashes on libstdc++'s regex headers)
  auto digits = [&](std::size_t& at) {
    const std::size_t start = at;
    while (at < name.size() && name[at] >= '0' && name[at] <= '9' && at - start < 6) ++at;
    return at > start ? std::stoi(name.substr(start, at - start)) : -1;
  };
  std::size_t at = 1;
  const bool starts = !name.empty() && name[0] == 'b';
  const int blocks = starts ? digits(at) : -1;
  const bool has_c = at < name.size() && name[at] == 'c';
  ++at;
  const int channels = has_c ? digits(at) : -1;
  const std::string rest = at <= name.size() ? name.substr(std::min(at, name.size())) : "";
  FUSEKIT_CHECK(blocks > 0 && channels > 0 && (rest.empty() || rest == "nbt"),
                "katago::architecture: '{}' is not a known architecture (bNcC, bNcCnbt or b7c96tf)", name);
  Architecture a;
  a.name = name;
  a.blocks = blocks;
  a.trunk_c = channels;
  a.nested = rest == "nbt";
  FUSEKIT_CHECK(a.blocks >= 1 && a.blocks <= 64 && a.trunk_c >= 16 && a.trunk_c <= 1024 && a.trunk_c % 8 == 0,
                "katago::architecture: '{}' needs 1..64 blocks of 16..1024 channels (a multiple of 8)", name);
  const int c = a.trunk_c;
  a.mid_c = a.nested ? c / 2 : c;
  a.gpool_c = a.nested ? a.mid_c / 3 : c / 4;
  a.regular_c = a.nested ? 2 * a.mid_c / 3 : c - c / 4;
  a.p1 = a.g1 = std::max(16, c / 8);
  a.v1 = std::max(32, c / 4);
  a.v2 = 2 * a.v1;
  if (name == "b6c96") a.p1 = a.g1 = a.v1 = 32, a.v2 = 64, a.regular_c = 64, a.gpool_c = 32;
  if (name == "b10c128") a.p1 = a.g1 = a.v1 = 32, a.v2 = 64, a.regular_c = 96, a.gpool_c = 32;
  if (name == "b18c384nbt") a.p1 = a.g1 = 48, a.v1 = 96, a.v2 = 128, a.regular_c = 128, a.gpool_c = 64;
  return a;
}

namespace detail {

class ModelBuilder {
 public:
  ModelBuilder(const Architecture& a, std::uint64_t seed) : a_(a), state_(seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull) {}

  ModelDesc build() {
    ModelDesc m;
    m.name = a_.name + "-random";
    m.version = a_.version;
    m.num_spatial_inputs = 22;
    m.num_global_inputs = 19;
    Trunk& t = m.trunk;
    t.name = "trunk";
    t.num_blocks = a_.transformer ? 2 * a_.blocks : a_.blocks;
    t.trunk_c = a_.trunk_c;
    t.mid_c = a_.mid_c;
    t.regular_c = a_.regular_c ? a_.regular_c : a_.trunk_c;
    t.dilated_c = 0;
    t.gpool_c = a_.gpool_c ? a_.gpool_c : a_.trunk_c;
    t.norm_kind = a_.transformer ? 1 : 0;
    t.initial_conv = conv("model.conv_spatial", 3, 22, a_.trunk_c, 1.f);
    t.initial_matmul = matmul("model.linear_global", 19, a_.trunk_c, 1.f);
    for (int i = 0; i < a_.blocks; ++i) {
      const std::string b = "model.blocks." + std::to_string(i);
      const bool gpool = i % 3 == 2 && i + 1 < a_.blocks;
      if (a_.transformer) {
        t.blocks.push_back({attention(b + ".attn")});
        t.blocks.push_back({ffn(b + ".ffn")});
      } else if (a_.nested) {
        NestedBottleneckBlock n;
        n.name = b;
        n.pre_bn = bn(b + ".normactconvp.norm", a_.trunk_c);
        n.pre_act = act(b + ".normactconvp.act");
        n.pre_conv = conv(b + ".normactconvp.conv", 1, a_.trunk_c, a_.mid_c, 1.f);
        n.inner.push_back(gpool ? gpool_block(b + ".blockstack.0", a_.mid_c) : ordinary(b + ".blockstack.0", a_.mid_c));
        n.inner.push_back(ordinary(b + ".blockstack.1", a_.mid_c));
        n.post_bn = bn(b + ".normactconvq.norm", a_.mid_c);
        n.post_act = act(b + ".normactconvq.act");
        n.post_conv = conv(b + ".normactconvq.conv", 1, a_.mid_c, a_.trunk_c, 0.5f);
        t.blocks.push_back({std::move(n)});
      } else {
        t.blocks.push_back(gpool ? gpool_block(b, a_.trunk_c) : ordinary(b, a_.trunk_c));
      }
    }
    if (a_.transformer) {
      t.tip_rms = rms("model.norm_trunkfinal", a_.trunk_c, true);
    } else {
      t.tip_bn = bn("model.norm_trunkfinal", a_.trunk_c);
    }
    t.tip_act = act("model.act_trunkfinal");
    policy(m.policy);
    value(m.value);
    return m;
  }

 private:
  // splitmix64: the same numbers on every platform and standard library.
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  float uniform(float lo, float hi) { return lo + (hi - lo) * static_cast<float>((next() >> 40) * 0x1.0p-24); }
  std::vector<float> weights(std::size_t n, int fan_in, float gain) {
    const float a = gain * std::sqrt(3.0f * 2.0f / static_cast<float>(fan_in));  // He: var = 2 / fan_in
    std::vector<float> w(n);
    for (float& v : w) v = uniform(-a, a);
    return w;
  }
  std::vector<float> values(int n, float lo, float hi) {
    std::vector<float> v(static_cast<std::size_t>(n));
    for (float& x : v) x = uniform(lo, hi);
    return v;
  }

  ConvLayer conv(const std::string& name, int k, int in, int out, float gain) {
    return {name, k, k, in, out, 1, 1, weights(static_cast<std::size_t>(k * k * in * out), k * k * in, gain)};
  }
  MatMulLayer matmul(const std::string& name, int in, int out, float gain) {
    return {name, in, out, weights(static_cast<std::size_t>(in * out), in, gain)};
  }
  MatBiasLayer matbias(const std::string& name, int c) { return {name, c, values(c, -0.1f, 0.1f)}; }
  BatchNormLayer bn(const std::string& name, int c) {
    BatchNormLayer n;
    n.name = name;
    n.c = c;
    n.eps = 1e-5f;
    n.has_scale = n.has_bias = true;
    n.mean = values(c, -0.2f, 0.2f);
    n.var = values(c, 0.5f, 1.5f);
    n.scale = values(c, 0.8f, 1.2f);
    n.bias = values(c, -0.2f, 0.2f);
    return n;
  }
  ActivationLayer act(const std::string& name) { return {name, a_.act}; }
  RmsNormLayer rms(const std::string& name, int c, bool with_beta) {
    RmsNormLayer n{name, c, 1e-6f, false, values(c, 0.8f, 1.2f), {}};
    if (with_beta) n.beta = values(c, -0.1f, 0.1f);
    return n;
  }

  Block ordinary(const std::string& b, int c) {
    return {OrdinaryBlock{b, bn(b + ".norm1", c), act(b + ".act1"), conv(b + ".conv1", 3, c, c, 1.f),
                          bn(b + ".norm2", c), act(b + ".act2"), conv(b + ".conv2", 3, c, c, 0.5f)}};
  }
  Block gpool_block(const std::string& b, int c) {
    const int r = a_.regular_c, g = a_.gpool_c;
    return {GlobalPoolBlock{b, bn(b + ".norm1", c), act(b + ".act1"), conv(b + ".conv1r", 3, c, r, 1.f),
                            conv(b + ".conv1g", 3, c, g, 1.f), bn(b + ".normg", g), act(b + ".actg"),
                            matmul(b + ".linear_g", 3 * g, r, 0.5f), bn(b + ".norm2", r), act(b + ".act2"),
                            conv(b + ".conv2", 3, r, c, 0.5f)}};
  }
  AttentionBlock attention(const std::string& b) {
    const int c = a_.trunk_c, hd = a_.heads * a_.head_dim;
    AttentionBlock a;
    a.name = b;
    a.heads = a.kv_heads = a_.heads;
    a.q_head_dim = a.v_head_dim = a_.head_dim;
    a.use_rope = true;
    a.norm = rms(b + ".norm1", c, false);
    a.q = matmul(b + ".q_proj", c, hd, 0.7f);
    a.k = matmul(b + ".k_proj", c, hd, 0.7f);
    a.v = matmul(b + ".v_proj", c, hd, 0.7f);
    a.out = matmul(b + ".out_proj", hd, c, 0.5f);
    a.rope_name = b + ".rope";
    a.rope_theta = 100.f;
    return a;
  }
  FfnBlock ffn(const std::string& b) {
    const int c = a_.trunk_c;
    return {b, c, a_.ffn, true, rms(b + ".norm", c, false), matmul(b + ".ffn_linear1", c, a_.ffn, 0.7f),
            matmul(b + ".ffn_linear_gate", c, a_.ffn, 0.7f), matmul(b + ".ffn_linear2", a_.ffn, c, 0.5f)};
  }

  void policy(PolicyHead& p) {
    const int c = a_.trunk_c, p1 = a_.p1, g1 = a_.g1;
    p.name = "model.policy_head";
    p.out_channels = a_.version >= 12 ? 2 : 1;
    p.p1_conv = conv("model.policy_head.conv1p", 1, c, p1, 1.f);
    p.g1_conv = conv("model.policy_head.conv1g", 1, c, g1, 1.f);
    p.g1_bn = bn("model.policy_head.biasg", g1);
    p.g1_act = act("model.policy_head.actg");
    p.gpool_to_bias = matmul("model.policy_head.linear_g", 3 * g1, p1, 0.6f);
    p.p1_bn = bn("model.policy_head.bias2", p1);
    p.p1_act = act("model.policy_head.act2");
    p.p2_conv = conv("model.policy_head.conv2p", 1, p1, p.out_channels, 0.3f);
    p.pass_mlp = a_.version >= 15;
    p.gpool_to_pass = matmul("model.policy_head.linear_pass", 3 * g1, p.pass_mlp ? p1 : p.out_channels, p.pass_mlp ? 1.f : 0.3f);
    if (p.pass_mlp) {
      p.pass_bias = matbias("model.policy_head.linear_pass_bias", p1);
      p.pass_act = act("model.policy_head.act_pass");
      p.pass2 = matmul("model.policy_head.linear_pass2", p1, p.out_channels, 0.3f);
    }
  }
  void value(ValueHead& v) {
    const int c = a_.trunk_c, v1 = a_.v1, v2 = a_.v2;
    v.name = "model.value_head";
    v.v1_conv = conv("model.value_head.conv1", 1, c, v1, 1.f);
    v.v1_bn = bn("model.value_head.bias1", v1);
    v.v1_act = act("model.value_head.act1");
    v.v2_mul = matmul("model.value_head.linear2", 3 * v1, v2, 1.f);
    v.v2_bias = matbias("model.value_head.bias2", v2);
    v.v2_act = act("model.value_head.act2");
    v.v3_mul = matmul("model.value_head.linear_valuehead", v2, 3, 0.3f);
    v.v3_bias = matbias("model.value_head.bias_valuehead", 3);
    v.sv3_mul = matmul("model.value_head.linear_miscvaluehead", v2, 6, 0.3f);
    v.sv3_bias = matbias("model.value_head.bias_miscvaluehead", 6);
    v.ownership_conv = conv("model.value_head.conv_ownership", 1, v1, 1, 0.3f);
  }

  Architecture a_;
  std::uint64_t state_;
};

}  // namespace detail

inline ModelDesc random_model(const Architecture& a, std::uint64_t seed = 1) {
  const ModelDesc m = detail::ModelBuilder(a, seed).build();
  return read_model_bytes(write_model_bytes(m, FloatEncoding::binary), m.name + ".bin", FloatEncoding::binary);
}

inline ModelDesc random_model(const std::string& arch, std::uint64_t seed = 1) { return random_model(architecture(arch), seed); }

}  // namespace fusekit::katago
