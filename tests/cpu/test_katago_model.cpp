// KataGo model files: the three networks in ../shared/models/katago parse to the architectures their
// README describes (layer shapes, block kinds, KataGo's parameter counts), and damaged files (truncated at
// many offsets, bad tokens, wrong dimensions, NaN weights, unsupported versions, kinds and activations,
// trailing bytes, broken gzip) fail with errors naming the file, the layer and the byte offset.
#include <cstring>
#include <filesystem>
#include <limits>
#include <cmath>
#include <variant>

#include <gtest/gtest.h>

#include "../common.hpp"
#include "fusekit/katago/model_reader.hpp"
#include "fusekit/katago/model_writer.hpp"
#include "fusekit/katago/random_model.hpp"

using namespace fusekit;
using namespace fusekit::katago;
using fusekit::test::expect_error;

namespace {

std::string model_path(const char* name) { return fusekit::test::shared_dir() + "/models/katago/" + name + ".bin.gz"; }

#define SKIP_WITHOUT(path) \
  if (!std::filesystem::exists(path)) GTEST_SKIP() << "no " << path << " (set FUSEKIT_SHARED_DIR)"

template <class K>
bool is(const Block& b) {
  return std::holds_alternative<K>(b.kind);
}

// The b3c64nbt test net, decompressed, and the same bytes with `from` (first occurrence) replaced.
std::string small_net() { return io::read_maybe_gzipped(model_path("b3c64nbt-synth-v15-mish")); }
std::string replaced(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) s.replace(at, from.size(), to);
  return s;
}

}  // namespace

TEST(KataGoModel, ReadsTheClassicResNet) {
  const std::string path = model_path("g170-b6c96-s175395328-d26788732");
  SKIP_WITHOUT(path);
  const ModelDesc m = read_model(path);
  EXPECT_EQ(m.version, 8);
  EXPECT_EQ(m.num_spatial_inputs, 22);
  EXPECT_EQ(m.num_global_inputs, 19);
  EXPECT_EQ(m.parameter_count, 1027911u);  // KataGo's own parameter count for this file
  EXPECT_EQ(m.float_count, 1027911u + 2 * 1344);  // + means and variances of 1344 batch-norm channels
  const Trunk& t = m.trunk;
  EXPECT_EQ(t.trunk_c, 96);
  EXPECT_EQ(t.initial_conv.ky, 5);
  ASSERT_EQ(t.blocks.size(), 6u);
  for (int i = 0; i < 6; ++i)  // blocks 3 and 5 (1-based) pool globally
    EXPECT_EQ(is<GlobalPoolBlock>(t.blocks[i]), i == 2 || i == 4) << "block " << i;
  const auto& g = std::get<GlobalPoolBlock>(t.blocks[2].kind);
  EXPECT_EQ(g.regular_conv.out_c, 64);
  EXPECT_EQ(g.gpool_conv.out_c, 32);
  EXPECT_EQ(t.tip_act.kind, Activation::relu);
  EXPECT_EQ(m.policy_channels(), 1);
  EXPECT_EQ(m.score_value_channels(), 4);
  EXPECT_FALSE(m.policy.pass_mlp);
  // folded batch norm: y = x * s + b with s = scale / sqrt(var + eps), b = bias - s * mean
  const BatchNormLayer& bn = std::get<OrdinaryBlock>(t.blocks[0].kind).mid_bn;
  for (int c = 0; c < bn.c; ++c) {
    const double s = (bn.has_scale ? bn.scale[c] : 1.0) / std::sqrt(static_cast<double>(bn.var[c]) + bn.eps);
    EXPECT_NEAR(bn.merged_scale[c], s, 1e-6 * std::abs(s));
    EXPECT_NEAR(bn.merged_bias[c], (bn.has_bias ? bn.bias[c] : 0.0) - s * bn.mean[c], 1e-5);
  }
}

TEST(KataGoModel, ReadsTheNestedBottleneckNet) {
  const std::string path = model_path("b3c64nbt-synth-v15-mish");
  SKIP_WITHOUT(path);
  const ModelDesc m = read_model(path);
  EXPECT_EQ(m.version, 15);
  const Trunk& t = m.trunk;
  EXPECT_EQ(t.trunk_c, 64);
  EXPECT_EQ(t.norm_kind, 0);
  ASSERT_EQ(t.blocks.size(), 3u);
  bool gpool_inner = false;
  for (const Block& b : t.blocks) {
    ASSERT_TRUE(is<NestedBottleneckBlock>(b));
    const auto& nb = std::get<NestedBottleneckBlock>(b.kind);
    EXPECT_EQ(nb.pre_conv.in_c, 64);
    EXPECT_EQ(nb.pre_conv.ky, 1);
    EXPECT_EQ(nb.post_conv.out_c, 64);
    for (const Block& inner : nb.inner) gpool_inner |= is<GlobalPoolBlock>(inner);
  }
  EXPECT_TRUE(gpool_inner);
  EXPECT_EQ(t.tip_act.kind, Activation::mish);
  EXPECT_TRUE(m.policy.pass_mlp);
  EXPECT_EQ(m.policy_channels(), 2);
  EXPECT_EQ(m.score_value_channels(), 6);
  EXPECT_FLOAT_EQ(m.post.shortterm_score_error, 150.f);
}

TEST(KataGoModel, ReadsTheTransformerNet) {
  const std::string path = model_path("b7c96h3tfrs-test5-cnorm");
  SKIP_WITHOUT(path);
  const ModelDesc m = read_model(path);
  EXPECT_EQ(m.version, 17);
  EXPECT_EQ(m.parameter_count, 818953u);  // KataGo's own parameter count for this file
  const Trunk& t = m.trunk;
  EXPECT_EQ(t.norm_kind, 1);  // RMSNorm tip
  ASSERT_EQ(t.blocks.size(), 14u);
  for (std::size_t i = 0; i < t.blocks.size(); ++i) {
    if (i % 2 == 0) {
      ASSERT_TRUE(is<AttentionBlock>(t.blocks[i])) << "block " << i;
      const auto& a = std::get<AttentionBlock>(t.blocks[i].kind);
      EXPECT_EQ(a.heads, 3);
      EXPECT_EQ(a.q_head_dim, 32);
      EXPECT_TRUE(a.use_rope);
      EXPECT_FALSE(a.learnable_rope);
      EXPECT_GT(a.rope_theta, 0.f);
    } else {
      ASSERT_TRUE(is<FfnBlock>(t.blocks[i])) << "block " << i;
      const auto& f = std::get<FfnBlock>(t.blocks[i].kind);
      EXPECT_TRUE(f.swiglu);
      EXPECT_EQ(f.ffn_c, 256);
    }
  }
  EXPECT_EQ(t.tip_act.kind, Activation::silu);
  EXPECT_EQ(m.policy_channels(), 2);
  EXPECT_EQ(m.score_value_channels(), 6);
}

TEST(KataGoModel, TruncatedFilesFailWithTheOffset) {
  const std::string path = model_path("b3c64nbt-synth-v15-mish");
  SKIP_WITHOUT(path);
  const std::string full = small_net();
  std::vector<std::size_t> cuts;
  for (std::size_t i = 0; i < 400; ++i) cuts.push_back(i);                      // every header offset
  for (std::size_t i = 400; i < full.size() - 1; i += 4999) cuts.push_back(i);  // and through the weights
  cuts.push_back(full.size() - 2);
  for (std::size_t cut : cuts) {
    SCOPED_TRACE(cut);
    expect_error([&] { read_model_bytes(full.substr(0, cut), "cut.bin", FloatEncoding::binary); }, {"cut.bin", "byte "});
  }
  // the compressed file cut short
  const std::string gz = io::read_file_bytes(path);
  expect_error([&] { io::gunzip(std::string_view(gz).substr(0, gz.size() / 2), "half.bin.gz"); },
               {"half.bin.gz", "truncated"});
}

// A small model (every block kind of a classic net, heads shrunk) cut at every byte: plain binary at every
// offset, gzip at every offset of the compressed stream, text at every offset of its header and every
// 13th beyond (up to the last number). Each cut is an error naming the file and the byte.
TEST(KataGoModel, EveryTruncationOfASmallModelIsAnError) {
  Architecture a = architecture("b4c16");
  a.trunk_c = a.mid_c = 8, a.regular_c = 6, a.gpool_c = 2, a.p1 = a.g1 = a.v1 = a.v2 = 4;
  const ModelDesc m = random_model(a, 2);
  const std::string bin = write_model_bytes(m, FloatEncoding::binary);
  const std::string txt = write_model_bytes(m, FloatEncoding::text);
  const std::string gz = io::gzip(bin);
  auto fails = [](const auto& read, std::size_t cut, const char* what) {
    try {
      read(cut);
      ADD_FAILURE() << what << " cut to " << cut << " bytes read as a model";
    } catch (const Error& e) {
      const std::string msg = e.what();
      if (msg.find("cut.") == std::string::npos || (msg.find("byte ") == std::string::npos))
        ADD_FAILURE() << what << " cut to " << cut << ": message names no file or byte: " << msg;
    }
  };
  // Only the final newline may go (binary); in text, a cut inside the last number leaves a shorter
  // number, which no reader can tell from a whole one.
  ASSERT_EQ(bin.back(), '\n');
  for (std::size_t cut = 0; cut + 1 < bin.size(); ++cut)
    fails([&](std::size_t n) { read_model_bytes(bin.substr(0, n), "cut.bin", FloatEncoding::binary); }, cut, "binary");
  const std::size_t last_number = txt.find_last_of(" \n", txt.find_last_not_of(" \n")) + 1;
  for (std::size_t cut = 0; cut <= last_number; cut += cut < 2000 || cut + 13 > last_number ? 1 : 13)
    fails([&](std::size_t n) { read_model_bytes(txt.substr(0, n), "cut.txt", FloatEncoding::text); }, cut, "text");
  for (std::size_t cut = 0; cut < gz.size(); ++cut)
    fails([&](std::size_t n) { read_model_bytes(io::gunzip(std::string_view(gz).substr(0, n), "cut.bin.gz"), "cut.bin.gz",
                                                FloatEncoding::binary); }, cut, "gzip");
  EXPECT_EQ(write_model_bytes(read_model_bytes(io::gunzip(gz, "whole.gz"), "whole", FloatEncoding::binary),
                              FloatEncoding::binary), bin);
  std::printf("  cut a %zu-byte binary, %zu-byte text and %zu-byte gzip model at every offset\n", bin.size(), txt.size(),
              gz.size());
}

// A few kilobytes of gzip that would inflate to gigabytes stop at the limit with a clear error.
TEST(KataGoModel, DecompressionIsCapped) {
  const std::string bomb = io::gzip(std::string(std::size_t{8} << 20, '\0'), 9);
  EXPECT_LT(bomb.size(), std::size_t{16} << 10);
  expect_error([&] { io::gunzip(bomb, "bomb.bin.gz", std::size_t{1} << 20); },
               {"bomb.bin.gz", "decompresses to more than 1048576 bytes"});
  EXPECT_EQ(io::gunzip(bomb, "bomb.bin.gz").size(), std::size_t{8} << 20);  // the default limit is 4 GiB
}

TEST(KataGoModel, DamagedFilesNameTheLayer) {
  SKIP_WITHOUT(model_path("b3c64nbt-synth-v15-mish"));
  const std::string net = small_net();
  auto read = [](const std::string& bytes) { return read_model_bytes(bytes, "net.bin", FloatEncoding::binary); };
  EXPECT_EQ(read(net).version, 15);  // the undamaged bytes read
  expect_error([&] { read(replaced(net, "\n15\n", "\n2\n")); }, {"net.bin", "unsupported model version 2"});
  expect_error([&] { read(replaced(net, "trunk\n3\n64\n", "trunk\nthree\n64\n")); },
               {"trunk", "number of blocks", "'three'"});
  expect_error([&] { read(replaced(net, "model.conv_spatial\n3\n3\n", "model.conv_spatial\n4\n3\n")); },
               {"model.conv_spatial", "even kernel 4x3"});
  expect_error([&] { read(replaced(net, "model.linear_global\n19\n64\n", "model.linear_global\n19\n65\n")); },
               {"model.linear_global", "gives 65 outputs, expected 64"});
  expect_error([&] { read(replaced(net, "nested_bottleneck_block", "mystery_block")); },
               "unsupported block kind 'mystery_block'");
  expect_error([&] { read(replaced(net, "ACTIVATION_MISH", "ACTIVATION_FOO")); }, "unsupported activation 'ACTIVATION_FOO'");
  expect_error([&] { read(net + "\nextra\n"); }, "unexpected bytes after the value head");
  std::string nan = net;
  const float q = std::numeric_limits<float>::quiet_NaN();
  std::memcpy(nan.data() + nan.find("@BIN@") + 5, &q, 4);
  expect_error([&] { read(nan); }, {"model.conv_spatial", "weight 0 of", "not finite"});
  // binary weights read as text
  expect_error([&] { read_model_bytes(net, "net.txt", FloatEncoding::text); }, {"net.txt", "a number"});
  expect_error([&] { read_model("/nonexistent/model.bin.gz"); }, "cannot open '/nonexistent/model.bin.gz'");
}

// write(read(file)) reads back to the same network, in binary and text, plain and gzipped.
TEST(KataGoModel, WriterRoundTrips) {
  for (const char* name : {"g170-b6c96-s175395328-d26788732", "b3c64nbt-synth-v15-mish", "b7c96h3tfrs-test5-cnorm"}) {
    SCOPED_TRACE(name);
    const std::string path = model_path(name);
    SKIP_WITHOUT(path);
    const ModelDesc m = read_model(path);
    const std::string bin = write_model_bytes(m, FloatEncoding::binary);
    const ModelDesc again = read_model_bytes(bin, "written.bin", FloatEncoding::binary);
    EXPECT_EQ(again.float_count, m.float_count);
    EXPECT_EQ(write_model_bytes(again, FloatEncoding::binary), bin);  // same layers, same weights, bit for bit
    const ModelDesc from_text =
        read_model_bytes(write_model_bytes(m, FloatEncoding::text), "written.txt", FloatEncoding::text);
    EXPECT_EQ(write_model_bytes(from_text, FloatEncoding::binary), bin);  // text floats are exact
    const auto tmp = std::filesystem::temp_directory_path() / (std::string("fusekit_") + name + ".txt.gz");
    write_model(m, tmp.string());
    EXPECT_EQ(write_model_bytes(read_model(tmp.string()), FloatEncoding::binary), bin);
    std::filesystem::remove(tmp);
  }
}
