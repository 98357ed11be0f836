// Attention on the CPU backend: every mask kind, GQA ratios 1/2/8, head dims 32..256, odd lengths, fused
// QKV views, varlen batches, key splits, decode = prefill, bad input; and NaN propagation through GEMM,
// convolution (Winograd here) and attention.
#include "../attention_cases.hpp"
#include "../nan_cases.hpp"
#include "cpu_context.hpp"

namespace fusekit::test {
namespace {

class CpuAttention : public ::testing::Test {
 protected:
  cpu::Context ctx{2};
};

TEST_F(CpuAttention, MasksHeadDimsAndGroups) {
  std::uint64_t salt = 9100;
  const AttnShape shapes[] = {
      {2, 11, 11, 4, 4, 32, AttnMask::none},          {1, 77, 77, 4, 2, 64, AttnMask::causal},
      {3, 40, 40, 2, 2, 72, AttnMask::key_padding},   {1, 11, 799, 8, 1, 256, AttnMask::block},
      {3, 1, 256, 8, 1, 128, AttnMask::causal_padding}, {1, 77, 120, 8, 8, 64, AttnMask::causal},
      {2, 19, 33, 8, 1, 256, AttnMask::causal_padding},  {2, 3, 0, 2, 1, 32, AttnMask::none},  // no keys: zeros
  };
  for (const auto& s : shapes) attention_case<cpu::Context, float>(ctx, s, salt += 10, false);
}

TEST_F(CpuAttention, NanPropagatesThroughGemmConvAndAttention) {
  gemm_nan_case<cpu::Context, float>(ctx, 37, 29, 41, 9500);
  gemm_nan_case<cpu::Context, float>(ctx, 11, 2560, 2048, 9510);
  conv_nan_case<cpu::Context, float>(ctx, Layout::nchw, 9520);
  conv_nan_case<cpu::Context, float>(ctx, Layout::nhwc, 9530);
  attention_nan_case<cpu::Context, float>(ctx, 9540);
}

TEST_F(CpuAttention, LongSequences) {
  attention_case<cpu::Context, float>(ctx, {1, 1000, 1000, 2, 1, 32, AttnMask::causal}, 9200, false);
  attention_case<cpu::Context, float>(ctx, {1, 256, 788, 2, 1, 64, AttnMask::key_padding}, 9210, false);
}

TEST_F(CpuAttention, FusedQkvViewsAndHalfDtypes) {
  attention_case<cpu::Context, float>(ctx, {2, 21, 21, 4, 2, 64, AttnMask::causal}, 9300, true);
  attention_case<cpu::Context, bfloat16>(ctx, {1, 30, 30, 8, 1, 72, AttnMask::none}, 9310, true);
  attention_case<cpu::Context, half>(ctx, {3, 17, 17, 2, 2, 128, AttnMask::causal_padding}, 9320, false);
}

TEST_F(CpuAttention, KeySplitsCombine) {
  for (int splits : {2, 3, 13})
    attention_case<cpu::Context, float>(ctx, {1, 11, 799, 8, 1, 256, AttnMask::block}, 9400 + splits, false,
                                        {.kv_splits = splits});
}

TEST_F(CpuAttention, Varlen) {
  attention_varlen_case<cpu::Context, float>(ctx, {{11, 11}, {1, 40}, {77, 77}, {0, 5}, {5, 0}}, 4, 2, 64, false, 9500);
  attention_varlen_case<cpu::Context, float>(ctx, {{30, 30}, {1, 57}, {64, 64}}, 8, 1, 32, true, 9510);
}

TEST_F(CpuAttention, DecodeEqualsPrefill) {
  attention_decode_matches_prefill<cpu::Context, float>(ctx, 21, 8, 2, 64, 9600);
}

TEST_F(CpuAttention, BadInput) { attention_error_cases(ctx); }

}  // namespace
}  // namespace fusekit::test
