// Attention on the GPU: the matrix-core kernel (f16, bf16) and the portable SIMT kernel (f32, and f16
// forced), every mask kind, GQA ratios 1/2/8, head dims 32..256 incl. 72, the odd lengths, key
// splits, fused QKV views, varlen batches, decode = prefill, graph capture, bad input; and NaN propagation
// through GEMM (mma, split-K), convolution and attention in every dtype.
#include "../attention_cases.hpp"
#include "../nan_cases.hpp"
#include "fusekit/backend/hip/graph.hpp"
#include "gpu_backend.hpp"

namespace fusekit::test {
namespace {

using GpuAttention = Gpu;

const AttnShape kShapes[] = {
    {2, 11, 11, 4, 4, 32, AttnMask::none},
    {1, 77, 77, 4, 2, 64, AttnMask::causal},
    {3, 256, 256, 2, 2, 72, AttnMask::key_padding},      // SigLIP's head dim
    {1, 11, 799, 8, 1, 256, AttnMask::block},             // Pi0 decode step
    {1, 788, 788, 8, 1, 256, AttnMask::key_padding},      // Pi0 prefill
    {3, 1, 1000, 8, 1, 128, AttnMask::causal_padding},    // decode, batch 3
    {2, 799, 799, 2, 2, 64, AttnMask::causal_padding},
    {1, 1000, 1000, 2, 1, 128, AttnMask::causal},
    {2, 19, 33, 8, 1, 256, AttnMask::causal_padding},
    {1, 77, 120, 8, 8, 96, AttnMask::causal},
    {2, 40, 57, 6, 3, 48, AttnMask::block},               // head dim padded 48 -> 64
};

template <class T>
void nan_cases(hip::Stream& s, std::uint64_t salt) {
  gemm_nan_case<hip::Stream, T>(s, 37, 29, 41, salt);
  gemm_nan_case<hip::Stream, T>(s, 11, 2560, 2048, salt + 10);
  conv_nan_case<hip::Stream, T>(s, Layout::nchw, salt + 20);
  conv_nan_case<hip::Stream, T>(s, Layout::nhwc, salt + 30);
  attention_nan_case<hip::Stream, T>(s, salt + 40);
}

TEST_F(GpuAttention, NanPropagatesThroughGemmConvAndAttention) {
  nan_cases<float>(stream(), 19500);
  nan_cases<half>(stream(), 19600);
  nan_cases<bfloat16>(stream(), 19700);
}

TEST_F(GpuAttention, MatrixCoreHalfAndBf16) {
  std::uint64_t salt = 19100;
  for (const auto& s : kShapes) {
    attention_case<hip::Stream, half>(stream(), s, salt += 10, false);
    attention_case<hip::Stream, bfloat16>(stream(), s, salt += 10, false);
  }
}

// Each matrix-core tile shape (narrow, wide, decode) on shapes the automatic choice gives to another.
TEST_F(GpuAttention, EveryTileShape) {
  std::uint64_t salt = 19200;
  for (int tiles : {0, 1, 2}) {
    for (const auto& s : {kShapes[0], kShapes[1], kShapes[2], kShapes[3], kShapes[5], kShapes[7], kShapes[8], kShapes[9],
                          kShapes[10]})
      attention_case<hip::Stream, half>(stream(), s, salt += 10, false, {.tiles = tiles});
    attention_case<hip::Stream, bfloat16>(stream(), kShapes[6], salt += 10, false, {.kv_splits = 3, .tiles = tiles});
    attention_case<hip::Stream, bfloat16>(stream(), kShapes[3], salt += 10, false, {.kv_splits = 4, .tiles = tiles});
  }
}

// The column-warp tile (tiles 3: two warps per row atom, each accumulating half the head dim of P V),
// which the policy picks for head dim 256 when the keys are split: unsplit, split, combined both ways;
// with a smaller head dim it is an error.
TEST_F(GpuAttention, ColumnWarpTile) {
  std::uint64_t salt = 19700;
  const auto ws = AttentionSplitCombine::workspace;
  for (const auto& s : {kShapes[3], kShapes[4], kShapes[8]}) {
    attention_case<hip::Stream, half>(stream(), s, salt += 10, false, {.tiles = 3});
    attention_case<hip::Stream, bfloat16>(stream(), s, salt += 10, s.q_len == s.kv_len, {.kv_splits = 1, .tiles = 3});
    attention_case<hip::Stream, bfloat16>(stream(), s, salt += 10, false, {.kv_splits = 25, .tiles = 3, .combine = ws});
    attention_case<hip::Stream, half>(stream(), s, salt += 10, false, {.kv_splits = 3, .tiles = 3, .combine = ws});
  }
  const std::string& arch = stream().device().arch;
  if (arch.rfind("sm_", 0) == 0 && std::atoi(arch.c_str() + 3) >= 90)
    for (int splits : {2, 3, 8}) {
      const AttentionOptions opt{.kv_splits = splits, .tiles = 3, .combine = AttentionSplitCombine::cluster};
      attention_case<hip::Stream, bfloat16>(stream(), kShapes[3], salt += 10, false, opt);
      attention_case<hip::Stream, half>(stream(), kShapes[8], salt += 10, false, opt);
    }
  try {
    attention_case<hip::Stream, half>(stream(), kShapes[5], salt += 10, false, {.tiles = 3});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("column-warp tile (tiles 3) is built for head dims 129..256, not 128"),
              std::string::npos) << e.what();
  }
}

TEST_F(GpuAttention, SimtKernel) {
  std::uint64_t salt = 19300;
  for (const auto& s : {kShapes[0], kShapes[1], kShapes[2], kShapes[3], kShapes[5], kShapes[8], kShapes[10]}) {
    attention_case<hip::Stream, float>(stream(), s, salt += 10, false);
    attention_case<hip::Stream, half>(stream(), s, salt += 10, false, {.path = AttentionPath::simt});
  }
  attention_case<hip::Stream, float>(stream(), {1, 13, 13, 2, 1, 20, AttnMask::causal}, salt += 10, false);  // D % 8 != 0
  attention_case<hip::Stream, half>(stream(), {2, 3, 0, 2, 1, 32, AttnMask::none}, salt += 10, false);  // no keys: zeros
}

TEST_F(GpuAttention, KeySplitsCombine) {
  for (int splits : {1, 2, 5, 25})
    attention_case<hip::Stream, bfloat16>(stream(), {1, 11, 799, 8, 1, 256, AttnMask::block}, 19500 + splits, false,
                                          {.kv_splits = splits});
  for (int splits : {1, 3})
    attention_case<hip::Stream, half>(stream(), {2, 300, 300, 4, 2, 72, AttnMask::causal_padding}, 19530 + splits, false,
                                      {.kv_splits = splits});
  // every block size of the combine kernel (rows per block), through the workspace: the Pi0 decode step,
  // batches with key padding and GQA, a head dim that is not a multiple of the combine's 128 columns
  const auto ws = AttentionSplitCombine::workspace;
  std::uint64_t salt = 19540;
  for (int groups : {1, 2, 4, 8}) {
    const AttentionOptions opt{.kv_splits = 7, .combine = ws, .combine_groups = groups};
    attention_case<hip::Stream, bfloat16>(stream(), {1, 11, 799, 8, 1, 256, AttnMask::block}, salt += 10, false,
                                          {.kv_splits = 25, .combine = ws, .combine_groups = groups});
    attention_case<hip::Stream, half>(stream(), {2, 300, 300, 4, 2, 72, AttnMask::causal_padding}, salt += 10, false, opt);
    attention_case<hip::Stream, bfloat16>(stream(), kShapes[8], salt += 10, false, opt);
  }
  try {
    attention_case<hip::Stream, half>(stream(), kShapes[3], salt += 10, false, {.kv_splits = 3, .combine = ws, .combine_groups = 3});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("combine_groups 3 is not 0 (automatic), 1, 2, 4 or 8"), std::string::npos) << e.what();
  }
}

// Key splits combined inside a thread-block cluster (sm_90) and through the workspace, each forced, with
// every tile shape (the key-warp decode tiles combine their warps first, in place) and split counts up
// to the cluster's 8: masks with fully masked rows, GQA, padded head dims, batches.
TEST_F(GpuAttention, ClusterAndWorkspaceCombine) {
  const std::string& arch = stream().device().arch;
  if (arch.rfind("sm_", 0) != 0 || std::atoi(arch.c_str() + 3) < 90) GTEST_SKIP() << "clusters need sm_90 (" << arch << ")";
  std::uint64_t salt = 19900;
  for (const auto combine : {AttentionSplitCombine::cluster, AttentionSplitCombine::workspace})
    for (int tiles : {0, 1, 2})
      for (int splits : {2, 3, 8}) {
        const AttentionOptions opt{.kv_splits = splits, .tiles = tiles, .combine = combine};
        attention_case<hip::Stream, bfloat16>(stream(), kShapes[3], salt += 10, false, opt);
        attention_case<hip::Stream, half>(stream(), kShapes[5], salt += 10, false, opt);
        attention_case<hip::Stream, bfloat16>(stream(), kShapes[8], salt += 10, false, opt);
        attention_case<hip::Stream, half>(stream(), kShapes[10], salt += 10, false, opt);
        attention_case<hip::Stream, half>(stream(), kShapes[2], salt += 10, false, opt);
      }
}

TEST_F(GpuAttention, FusedQkvViews) {
  attention_case<hip::Stream, half>(stream(), {2, 77, 77, 8, 1, 256, AttnMask::causal}, 19600, true);
  attention_case<hip::Stream, bfloat16>(stream(), {3, 256, 256, 4, 4, 72, AttnMask::none}, 19610, true);
  attention_case<hip::Stream, float>(stream(), {1, 30, 30, 4, 2, 64, AttnMask::causal_padding}, 19620, true);
}

TEST_F(GpuAttention, Varlen) {
  attention_varlen_case<hip::Stream, half>(stream(), {{11, 11}, {1, 40}, {77, 77}, {0, 5}, {5, 0}, {256, 256}}, 4, 2, 64,
                                           false, 19700);
  attention_varlen_case<hip::Stream, bfloat16>(stream(), {{30, 30}, {1, 799}, {200, 200}}, 8, 1, 256, true, 19710);
  attention_varlen_case<hip::Stream, float>(stream(), {{30, 30}, {1, 57}}, 8, 1, 32, true, 19720);
}

TEST_F(GpuAttention, DecodeEqualsPrefill) {
  attention_decode_matches_prefill<hip::Stream, half>(stream(), 40, 8, 1, 256, 19800);
  attention_decode_matches_prefill<hip::Stream, bfloat16>(stream(), 33, 4, 2, 128, 19810);
  attention_decode_matches_prefill<hip::Stream, float>(stream(), 20, 4, 4, 64, 19820);
}

// A captured decode step (split keys: workspace sized before capture) replays bit-identically.
TEST_F(GpuAttention, GraphReplay) {
  auto& s = stream();
  auto q = Backend<hip::Stream>::upload(s, random_tensor<half, 4>({1, 11, 8, 256}, 19900));
  auto k = Backend<hip::Stream>::upload(s, random_tensor<half, 4>({1, 799, 1, 256}, 19901));
  auto v = Backend<hip::Stream>::upload(s, random_tensor<half, 4>({1, 799, 1, 256}, 19902));
  auto out = Backend<hip::Stream>::poisoned<half, 4>(s, {1, 11, 8, 256});
  attention(s, out, q, k, v);
  const auto first = to_host(s, out);
  auto graph = hip::capture(s, [&](hip::Stream& st) { attention(st, out, q, k, v); });
  for (int i = 0; i < 3; ++i) graph.replay(s);
  const auto again = to_host(s, out);
  EXPECT_EQ(std::memcmp(first.data(), again.data(), first.bytes()), 0);
}

TEST_F(GpuAttention, BadInput) {
  attention_error_cases(stream());
  auto q = Backend<hip::Stream>::upload(stream(), random_tensor<half, 4>({1, 4, 2, 264}, 1));
  auto o = Backend<hip::Stream>::poisoned<half, 4>(stream(), {1, 4, 2, 264});
  expect_error([&] { attention(stream(), o, q, q, q); }, {"head_dim 264", "exceeds"});
}

}  // namespace
}  // namespace fusekit::test
