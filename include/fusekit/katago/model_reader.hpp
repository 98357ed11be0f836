#pragma once
// Reads KataGo model files (.bin.gz, .bin, .txt.gz, .txt; model versions 3..17) into a ModelDesc
// (katago/model_desc.hpp), following the grammar in ../shared/models/katago/FORMAT.md:
//   ModelDesc m = katago::read_model("b18c384nbt.bin.gz");
// Every malformed input throws fusekit::Error naming the file, the layer being read and the byte offset
// (in the decompressed stream): truncation, bad tokens, wrong or inconsistent dimensions, even kernels,
// non-finite weights, unsupported versions, block kinds or activations, and bytes after the last layer.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "fusekit/core/format.hpp"
#include "fusekit/io/file_bytes.hpp"
#include "fusekit/katago/model_desc.hpp"

namespace fusekit::katago {

enum class FloatEncoding { binary, text };

inline constexpr int min_model_version = 3, max_model_version = 17;

class ModelReader {
 public:
  // `bytes`: the decompressed file; `file`: its name for messages.
  ModelReader(std::string bytes, std::string file, FloatEncoding enc)
      : b_(std::move(bytes)), file_(std::move(file)), enc_(enc) {}

  ModelDesc read() {
    ModelDesc m;
    layer_ = "header";
    m.name = token("model name");
    const std::size_t vat = at();
    m.version = static_cast<int>(integer("model version", 0, 1000));
    if (m.version < min_model_version || m.version > max_model_version)
      error(vat, fmt::format("unsupported model version {} (this reader takes {}..{})", m.version, min_model_version,
                             max_model_version));
    version_ = m.version;
    m.num_spatial_inputs = static_cast<int>(integer("number of spatial inputs", 1, 1024));
    m.num_global_inputs = static_cast<int>(integer("number of global inputs", 0, 1024));
    if (version_ >= 13) {
      float* mult[] = {&m.post.td_score, &m.post.score_mean, &m.post.score_stdev, &m.post.lead, &m.post.var_time,
                       &m.post.shortterm_value_error, &m.post.shortterm_score_error};
      for (float* f : mult) *f = text_float("post-processing multiplier");
    }
    if (version_ >= 15) {
      m.meta_encoder_version = static_cast<int>(integer("meta encoder version", 0, 1));
      m.prefer_pass_alive_under_suicide = integer("preferPassAliveUnderSuicide", 0, 1) != 0;
      zeros(6, "reserved header field");
    }
    read_trunk(m);
    read_policy(m);
    read_value(m);
    skip_ws();
    layer_ = "end of file";
    if (pos_ != b_.size()) error(pos_, "unexpected bytes after the value head");
    m.float_count = floats_;
    m.parameter_count = floats_ - bn_stats_;
    return m;
  }

 private:
  std::string b_, file_;
  FloatEncoding enc_;
  std::size_t pos_ = 0, floats_ = 0, bn_stats_ = 0;
  int version_ = 0;
  std::string layer_;

  [[noreturn]] void error(std::size_t offset, std::string_view what) const {
    fail("KataGo model {}: {}: {} (byte {} of {} decompressed)", file_, layer_, what, offset, b_.size());
  }
  std::size_t at() {
    skip_ws();
    return pos_;
  }
  void skip_ws() {
    while (pos_ < b_.size() && std::isspace(static_cast<unsigned char>(b_[pos_]))) ++pos_;
  }
  std::string token(std::string_view what) {
    skip_ws();
    if (pos_ >= b_.size()) error(pos_, fmt::format("the file ends where the {} should be", what));
    const std::size_t start = pos_;
    while (pos_ < b_.size() && !std::isspace(static_cast<unsigned char>(b_[pos_]))) ++pos_;
    if (pos_ - start > 4096) error(start, fmt::format("a {}-byte token where the {} should be", pos_ - start, what));
    return b_.substr(start, pos_ - start);
  }
  long long integer(std::string_view what, long long lo, long long hi) {
    const std::size_t start = at();
    const std::string t = token(what);
    long long v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc{} || r.ptr != t.data() + t.size())
      error(start, fmt::format("expected the {} (an integer), found '{}'", what, t.substr(0, 40)));
    if (v < lo || v > hi) error(start, fmt::format("the {} is {}, outside {}..{}", what, v, lo, hi));
    return v;
  }
  float text_float(std::string_view what) {
    const std::size_t start = at();
    const std::string t = token(what);
    float v = 0;
    const auto r = std::from_chars(t.data(), t.data() + t.size(), v);
    if (r.ec != std::errc{} || r.ptr != t.data() + t.size())
      error(start, fmt::format("expected the {} (a number), found '{}'", what, t.substr(0, 40)));
    if (!std::isfinite(v)) error(start, fmt::format("the {} is not finite ({})", what, t));
    return v;
  }
  void zeros(int n, std::string_view what) {
    for (int i = 0; i < n; ++i) integer(what, 0, 0);
  }
  // n weights: "@BIN@" + n little-endian float32 (binary files) or n numbers (text files); all finite.
  std::vector<float> floats(std::size_t n, std::string_view what) {
    std::vector<float> v;
    if (enc_ == FloatEncoding::binary) {
      std::size_t skipped = 0;
      while (pos_ < b_.size() && skipped < 100 && std::isspace(static_cast<unsigned char>(b_[pos_]))) ++pos_, ++skipped;
      if (b_.compare(pos_, 5, "@BIN@") != 0)
        error(pos_, fmt::format("expected '@BIN@' before the {} {} weights", n, what));
      pos_ += 5;
      if (n > (b_.size() - pos_) / 4)
        error(pos_, fmt::format("the file ends inside the {} weights ({} floats = {} bytes expected, {} left)", what, n,
                                4 * n, b_.size() - pos_));
      v.resize(n);
      std::memcpy(v.data(), b_.data() + pos_, 4 * n);  // little-endian hosts (x86-64, AArch64)
      for (std::size_t i = 0; i < n; ++i)
        if (!std::isfinite(v[i]))
          error(pos_ + 4 * i, fmt::format("{} weight {} of {} is not finite ({})", what, i, n, v[i]));
      pos_ += 4 * n;
    } else {
      if (n > b_.size() - std::min(pos_, b_.size()))  // every number takes at least one byte
        error(pos_, fmt::format("the file is too short for the {} {} weights", n, what));
      v.resize(n);
      for (std::size_t i = 0; i < n; ++i) v[i] = text_float(what);
    }
    floats_ += n;
    return v;
  }
  // Weight count of a layer with these dimensions, refusing absurd sizes before anything is allocated.
  std::size_t count(std::size_t start, std::initializer_list<long long> dims) const {
    std::size_t n = 1;
    for (long long d : dims) {
      n *= static_cast<std::size_t>(d);
      if (n > (std::size_t{1} << 31)) error(start, "layer dimensions give more than 2^31 weights");
    }
    return n;
  }
  void expect(bool ok, std::size_t start, std::string_view what) const {
    if (!ok) error(start, what);
  }

  // ---- layers ----
  // Reads a layer's name (which messages then name) and returns the offset where the layer starts.
  std::size_t begin_layer(std::string& name, std::string_view what) {
    const std::size_t start = at();
    name = token(what);
    layer_ = name;
    return start;
  }
  // A channel count that must equal `want`.
  int channels(std::size_t start, int want, std::string_view kind, int hi = 1 << 16) {
    const int c = static_cast<int>(integer("channels", 1, hi));
    expect(c == want, start, fmt::format("{} over {} channels, expected {}", kind, c, want));
    return c;
  }

  ConvLayer conv(std::string_view role, int in_c, int out_c) {
    ConvLayer c;
    const std::size_t start = begin_layer(c.name, "conv layer name");
    c.ky = static_cast<int>(integer("kernel height", 1, 99));
    c.kx = static_cast<int>(integer("kernel width", 1, 99));
    c.in_c = static_cast<int>(integer("input channels", 1, 1 << 16));
    c.out_c = static_cast<int>(integer("output channels", 1, 1 << 16));
    c.dil_y = static_cast<int>(integer("vertical dilation", 1, 64));
    c.dil_x = static_cast<int>(integer("horizontal dilation", 1, 64));
    expect(c.ky % 2 == 1 && c.kx % 2 == 1, start, fmt::format("{} conv has an even kernel {}x{}", role, c.ky, c.kx));
    if (in_c > 0) expect(c.in_c == in_c, start, fmt::format("{} conv takes {} channels, expected {}", role, c.in_c, in_c));
    if (out_c > 0) expect(c.out_c == out_c, start, fmt::format("{} conv gives {} channels, expected {}", role, c.out_c, out_c));
    c.w = floats(count(start, {c.ky, c.kx, c.in_c, c.out_c}), "conv");
    return c;
  }
  BatchNormLayer batch_norm(int c) {
    BatchNormLayer n;
    const std::size_t start = begin_layer(n.name, "batch norm layer name");
    n.c = channels(start, c, "batch norm");
    n.eps = text_float("epsilon");
    expect(n.eps >= 0.f, start, "negative epsilon");
    n.has_scale = integer("hasScale", 0, 1) != 0;
    n.has_bias = integer("hasBias", 0, 1) != 0;
    n.mean = floats(n.c, "mean");
    n.var = floats(n.c, "variance");
    bn_stats_ += 2 * static_cast<std::size_t>(n.c);
    if (n.has_scale) n.scale = floats(n.c, "scale");
    if (n.has_bias) n.bias = floats(n.c, "bias");
    n.merged_scale.resize(n.c);
    n.merged_bias.resize(n.c);
    for (int i = 0; i < n.c; ++i) {
      const double denom = static_cast<double>(n.var[i]) + n.eps;
      expect(denom > 0, start, fmt::format("variance + epsilon of channel {} is {} (not positive)", i, denom));
      const double s = (n.has_scale ? n.scale[i] : 1.0) / std::sqrt(denom);
      n.merged_scale[i] = static_cast<float>(s);
      n.merged_bias[i] = static_cast<float>((n.has_bias ? n.bias[i] : 0.0) - s * n.mean[i]);
    }
    return n;
  }
  ActivationLayer activation() {
    ActivationLayer a;
    a.name = token("activation layer name");
    layer_ = a.name;
    if (version_ < 11) return a;  // ReLU, no kind token
    const std::size_t start = at();
    const std::string kind = token("activation kind");
    if (kind == "ACTIVATION_IDENTITY") a.kind = Activation::identity;
    else if (kind == "ACTIVATION_RELU") a.kind = Activation::relu;
    else if (kind == "ACTIVATION_MISH") a.kind = Activation::mish;
    else if (kind == "ACTIVATION_SILU") a.kind = Activation::silu;
    else error(start, fmt::format("unsupported activation '{}'", kind.substr(0, 40)));
    return a;
  }
  MatMulLayer matmul(std::string_view role, int in_c, int out_c) {
    MatMulLayer l;
    const std::size_t start = begin_layer(l.name, "matmul layer name");
    l.in_c = static_cast<int>(integer("input channels", 1, 1 << 20));
    l.out_c = static_cast<int>(integer("output channels", 1, 1 << 20));
    if (in_c > 0) expect(l.in_c == in_c, start, fmt::format("{} takes {} inputs, expected {}", role, l.in_c, in_c));
    if (out_c > 0) expect(l.out_c == out_c, start, fmt::format("{} gives {} outputs, expected {}", role, l.out_c, out_c));
    l.w = floats(count(start, {l.in_c, l.out_c}), "matmul");
    return l;
  }
  MatBiasLayer matbias(int c) {
    MatBiasLayer l;
    l.c = channels(begin_layer(l.name, "bias layer name"), c, "bias", 1 << 20);
    l.b = floats(l.c, "bias");
    return l;
  }
  RmsNormLayer rms_norm(int c, bool with_beta) {
    RmsNormLayer n;
    n.c = channels(begin_layer(n.name, "RMSNorm layer name"), c, "RMSNorm");
    n.eps = text_float("epsilon");
    if (with_beta) {
      n.spatial = integer("spatial flag", 0, 1) != 0;
      integer("channel group size (must be 0)", 0, 0);
    }
    n.gamma = floats(n.c, "gamma");
    if (with_beta) n.beta = floats(n.c, "beta");
    return n;
  }

  // ---- blocks; c: channels in and out of the block ----
  Block block(int c) {
    const std::size_t start = at();
    const std::string kind = token("block kind");
    if (kind == "ordinary_block") {
      OrdinaryBlock b;
      b.name = layer_ = token("block name");
      b.pre_bn = batch_norm(c);
      b.pre_act = activation();
      b.conv1 = conv("first", c, 0);
      b.mid_bn = batch_norm(b.conv1.out_c);
      b.mid_act = activation();
      b.conv2 = conv("second", b.conv1.out_c, c);
      return {std::move(b)};
    }
    if (kind == "gpool_block") {
      GlobalPoolBlock b;
      b.name = layer_ = token("block name");
      b.pre_bn = batch_norm(c);
      b.pre_act = activation();
      b.regular_conv = conv("regular", c, 0);
      b.gpool_conv = conv("global pooling", c, 0);
      b.gpool_bn = batch_norm(b.gpool_conv.out_c);
      b.gpool_act = activation();
      b.gpool_to_bias = matmul("pooled-to-bias matmul", 3 * b.gpool_conv.out_c, b.regular_conv.out_c);
      b.mid_bn = batch_norm(b.regular_conv.out_c);
      b.mid_act = activation();
      b.final_conv = conv("final", b.regular_conv.out_c, c);
      return {std::move(b)};
    }
    if (kind == "nested_bottleneck_block") {
      NestedBottleneckBlock b;
      b.name = layer_ = token("block name");
      const int inner = static_cast<int>(integer("number of inner blocks", 1, 64));
      b.pre_bn = batch_norm(c);
      b.pre_act = activation();
      b.pre_conv = conv("bottleneck entry", c, 0);
      for (int i = 0; i < inner; ++i) b.inner.push_back(block(b.pre_conv.out_c));
      b.post_bn = batch_norm(b.pre_conv.out_c);
      b.post_act = activation();
      b.post_conv = conv("bottleneck exit", b.pre_conv.out_c, c);
      return {std::move(b)};
    }
    if (kind == "transformer_attention_block") {
      AttentionBlock b;
      b.name = layer_ = token("block name");
      b.heads = static_cast<int>(integer("heads", 1, 1024));
      b.kv_heads = static_cast<int>(integer("KV heads", 1, 1024));
      b.q_head_dim = static_cast<int>(integer("q head dim", 1, 4096));
      b.v_head_dim = static_cast<int>(integer("v head dim", 1, 4096));
      b.use_rope = integer("useRope", 0, 1) != 0;
      b.learnable_rope = integer("learnableRope", 0, 1) != 0;
      expect(b.heads % b.kv_heads == 0, start, fmt::format("{} heads do not share {} KV heads evenly", b.heads, b.kv_heads));
      b.norm = rms_norm(c, false);
      b.q = matmul("q projection", c, b.heads * b.q_head_dim);
      b.k = matmul("k projection", c, b.kv_heads * b.q_head_dim);
      b.v = matmul("v projection", c, b.kv_heads * b.v_head_dim);
      b.out = matmul("output projection", b.heads * b.v_head_dim, c);
      if (b.use_rope) {
        b.rope_name = layer_ = token("RoPE layer name");
        if (b.learnable_rope) {
          const std::size_t rs = at();
          const int kvh = static_cast<int>(integer("RoPE KV heads", 1, 1024));
          expect(kvh == b.kv_heads, rs, fmt::format("RoPE table for {} KV heads, expected {}", kvh, b.kv_heads));
          b.rope_pairs = static_cast<int>(integer("RoPE pairs", 1, 4096));
          integer("RoPE pair size", 2, 2);
          b.rope_table = floats(count(rs, {kvh, b.rope_pairs, 2}), "RoPE");
        } else {
          b.rope_theta = text_float("RoPE theta");
        }
      }
      return {std::move(b)};
    }
    if (kind == "transformer_ffn_block") {
      FfnBlock b;
      b.name = layer_ = token("block name");
      b.c = static_cast<int>(integer("channels", 1, 1 << 16));
      expect(b.c == c, start, fmt::format("FFN block over {} channels, expected {}", b.c, c));
      b.ffn_c = static_cast<int>(integer("FFN channels", 1, 1 << 20));
      b.swiglu = integer("useSwiGLU", 0, 1) != 0;
      b.norm = rms_norm(c, false);
      b.w1 = matmul("FFN input matmul", c, b.ffn_c);
      if (b.swiglu) b.gate = matmul("FFN gate matmul", c, b.ffn_c);
      b.w2 = matmul("FFN output matmul", b.ffn_c, c);
      return {std::move(b)};
    }
    error(start, fmt::format("unsupported block kind '{}'", kind.substr(0, 40)));
  }

  void read_trunk(ModelDesc& m) {
    Trunk& t = m.trunk;
    t.name = layer_ = token("trunk name");
    t.num_blocks = static_cast<int>(integer("number of blocks", 1, 1000));
    t.trunk_c = static_cast<int>(integer("trunk channels", 1, 1 << 16));
    t.mid_c = static_cast<int>(integer("mid channels", 1, 1 << 16));
    t.regular_c = static_cast<int>(integer("regular channels", 1, 1 << 16));
    t.dilated_c = static_cast<int>(integer("dilated channels", 0, 1 << 16));
    t.gpool_c = static_cast<int>(integer("global pooling channels", 0, 1 << 16));
    if (version_ >= 15) {
      t.norm_kind = static_cast<int>(integer("trunk norm kind", 0, 1));
      zeros(5, "reserved trunk field");
    }
    t.initial_conv = conv("initial", m.num_spatial_inputs, t.trunk_c);
    t.initial_matmul = matmul("global input matmul", m.num_global_inputs, t.trunk_c);
    if (m.meta_encoder_version > 0) {
      MetaEncoder& e = t.meta;
      t.has_meta = true;
      e.name = layer_ = token("meta encoder name");
      e.num_inputs = static_cast<int>(integer("meta inputs", 1, 1 << 16));
      e.mul1 = matmul("meta matmul 1", e.num_inputs, 0);
      e.bias1 = matbias(e.mul1.out_c);
      e.act1 = activation();
      e.mul2 = matmul("meta matmul 2", e.mul1.out_c, 0);
      e.bias2 = matbias(e.mul2.out_c);
      e.act2 = activation();
      e.mul3 = matmul("meta matmul 3", e.mul2.out_c, t.trunk_c);
    }
    for (int i = 0; i < t.num_blocks; ++i) t.blocks.push_back(block(t.trunk_c));
    if (t.norm_kind == 0) t.tip_bn = batch_norm(t.trunk_c);
    else t.tip_rms = rms_norm(t.trunk_c, true);
    t.tip_act = activation();
  }

  void read_policy(ModelDesc& m) {
    PolicyHead& p = m.policy;
    const int c = m.trunk.trunk_c;
    p.name = layer_ = token("policy head name");
    if (version_ >= 17) {
      const std::size_t start = at();
      p.out_channels = static_cast<int>(integer("policy output channels", 2, 4));
      expect(p.out_channels != 3, start, "policy output channels must be 2 or 4");
      zeros(3, "reserved policy head field");
    } else {
      p.out_channels = version_ <= 11 ? 1 : version_ <= 15 ? 2 : 4;
    }
    p.p1_conv = conv("policy p1", c, 0);
    p.g1_conv = conv("policy g1", c, 0);
    p.g1_bn = batch_norm(p.g1_conv.out_c);
    p.g1_act = activation();
    p.gpool_to_bias = matmul("policy pooled-to-bias matmul", 3 * p.g1_conv.out_c, p.p1_conv.out_c);
    p.p1_bn = batch_norm(p.p1_conv.out_c);
    p.p1_act = activation();
    p.p2_conv = conv("policy output", p.p1_conv.out_c, p.out_channels);
    p.pass_mlp = version_ >= 15;
    p.gpool_to_pass = matmul("pass matmul", 3 * p.g1_conv.out_c, p.pass_mlp ? p.p1_conv.out_c : p.out_channels);
    if (p.pass_mlp) {
      p.pass_bias = matbias(p.p1_conv.out_c);
      p.pass_act = activation();
      p.pass2 = matmul("pass output matmul", p.p1_conv.out_c, p.out_channels);
    }
  }

  void read_value(ModelDesc& m) {
    ValueHead& v = m.value;
    v.name = layer_ = token("value head name");
    if (version_ >= 17) zeros(3, "reserved value head field");
    const int s = version_ == 3 ? 1 : version_ <= 7 ? 2 : version_ == 8 ? 4 : 6;
    v.v1_conv = conv("value v1", m.trunk.trunk_c, 0);
    v.v1_bn = batch_norm(v.v1_conv.out_c);
    v.v1_act = activation();
    v.v2_mul = matmul("value pooled matmul", 3 * v.v1_conv.out_c, 0);
    v.v2_bias = matbias(v.v2_mul.out_c);
    v.v2_act = activation();
    v.v3_mul = matmul("value output matmul", v.v2_mul.out_c, 3);
    v.v3_bias = matbias(3);
    v.sv3_mul = matmul("score-value matmul", v.v2_mul.out_c, s);
    v.sv3_bias = matbias(s);
    v.ownership_conv = conv("ownership", v.v1_conv.out_c, 1);
  }
};

// The model in `bytes` (already decompressed); `name` is used in messages.
inline ModelDesc read_model_bytes(std::string bytes, const std::string& name, FloatEncoding enc) {
  return ModelReader(std::move(bytes), name, enc).read();
}

// A model file: gzip is detected by its magic bytes; the float encoding follows the name (.bin / .bin.gz
// binary, .txt / .txt.gz text; any other name tries binary, then text).
inline ModelDesc read_model(const std::string& path) {
  std::string bytes = io::read_maybe_gzipped(path);
  auto ends = [&](std::string_view suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends(".bin") || ends(".bin.gz")) return read_model_bytes(std::move(bytes), path, FloatEncoding::binary);
  if (ends(".txt") || ends(".txt.gz")) return read_model_bytes(std::move(bytes), path, FloatEncoding::text);
  try {
    return read_model_bytes(bytes, path, FloatEncoding::binary);
  } catch (const Error& binary_error) {
    try {
      return read_model_bytes(std::move(bytes), path, FloatEncoding::text);
    } catch (const Error&) {
      throw binary_error;  // the binary reading's message: the usual format
    }
  }
}

}  // namespace fusekit::katago
