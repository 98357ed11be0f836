// Transformer layers on the GPU, bf16 (matrix cores) and f32 (portable kernels): HF Gemma and SigLIP
// fixtures, joint two-expert attention with the Pi0 block mask against float64, cached passes, decode
// equals prefill (cases in transformer_cases.hpp).
#include "../transformer_cases.hpp"
#include "gpu_backend.hpp"

using namespace fusekit;

using GpuTransformer = test::Gpu;

TEST_F(GpuTransformer, GemmaMatchesHuggingFaceBf16) { test::hf_gemma_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, GemmaMatchesHuggingFaceF32) { test::hf_gemma_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, SiglipMatchesHuggingFaceBf16) { test::hf_siglip_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, SiglipMatchesHuggingFaceF32) { test::hf_siglip_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, JointAttentionPi0BlockMaskBf16) { test::joint_attention_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, JointAttentionPi0BlockMaskF32) { test::joint_attention_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, DecodeEqualsPrefillBf16) { test::decode_equals_prefill_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, DecodeEqualsPrefillF32) { test::decode_equals_prefill_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, Pi0PolicyMatchesFloat64LoopBf16) { test::pi0_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, Pi0PolicyMatchesFloat64LoopF32) { test::pi0_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, EmbeddingLookupBf16) { test::embedding_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, EmbeddingLookupF32) { test::embedding_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, AdaptiveRmsNormAndGatedResidualBf16) { test::adaptive_norm_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, AdaptiveRmsNormAndGatedResidualF32) { test::adaptive_norm_case<hip::Stream, float>(stream()); }

#if FUSEKIT_VENDOR_CUDA
#include "fusekit/transformer/decode_stack.hpp"

// The persistent decode kernel (transformer/decode_stack.hpp) against the float64 joint reference: a
// prefix expert fills the (NaN-poisoned) cache through gemma_forward, then DecodeStack runs the suffix
// expert (hidden 1024, heads of 256, one KV head: the only shape family it takes) under the Pi0 block
// mask. 77 prefix keys: two key tiles stream through the ring, the third holds the keys the kernel
// writes. Run twice (a denoising step rewrites the same slots; the residual's summation order is not
// fixed, so the two runs agree to rounding, not bits). Shapes it does not take are refused with a reason.
TEST_F(GpuTransformer, DecodeStackMatchesFloat64Joint) {
  using T = bfloat16;
  using S = DeviceSpace;
  hip::Stream& ctx = stream();
  const transformer::GemmaConfig e0{.hidden = 128, .layers = 2, .heads = 4, .kv_heads = 1, .head_dim = 256, .mlp = 128};
  const transformer::GemmaConfig e1{.hidden = 1024, .layers = 2, .heads = 4, .kv_heads = 1, .head_dim = 256, .mlp = 2048};
  const std::string why = transformer::DecodeStack::unsupported(e1, 1, 11, ctx.device());
  if (!why.empty()) GTEST_SKIP() << "DecodeStack: " << why;
  EXPECT_FALSE(transformer::DecodeStack::unsupported(e0, 1, 11, ctx.device()).empty());
  EXPECT_FALSE(transformer::DecodeStack::unsupported(e1, 2, 11, ctx.device()).empty());
  EXPECT_FALSE(transformer::DecodeStack::unsupported(e1, 1, 17, ctx.device()).empty());
  const transformer::RandomSource w0{21}, w1{22};
  const index_t n0 = 77, n1 = 11, n = n0 + n1;
  const auto m0 = transformer::load_gemma<T>(ctx, e0, w0);
  const auto m1 = transformer::load_gemma<T>(ctx, e1, w1);
  const auto x0_h = test::random_tensor<T, 3>({1, n0, e0.hidden}, 81, -3, 3);
  const auto x1_h = test::random_tensor<T, 3>({1, n1, e1.hidden}, 82, -3, 3);
  auto kv_end = [&](index_t i) { return i < n0 ? n0 : i == n0 ? n0 + 1 : n; };
  std::vector<HostTensor<double, 3>> xs;
  xs.push_back(test::to_double(x0_h));
  xs.push_back(test::to_double(x1_h));
  std::vector<std::vector<int>> pos(1);
  for (index_t i = 0; i < n; ++i) pos[0].push_back(static_cast<int>(i + 5));
  reference::gemma_joint({{&w0, "model.", e0}, {&w1, "model.", e1}}, xs, pos,
                         [&](index_t, index_t i, index_t j) { return j < kv_end(i); });

  transformer::KVCache<T, S> cache(ctx, e0.layers, 1, n + 3, 1, 256);
  test::poison_cache(ctx, cache);
  const transformer::GemmaConfig cfgs[] = {e0, e1};
  transformer::DecoderScratch<T, S> scratch(ctx, 1, n0, cfgs);
  auto x0 = to_device(ctx, x0_h);
  HostTensor<std::int32_t, 2> p0({1, n0}), p1({1, n1}), end1({1, n1});
  for (index_t i = 0; i < n0; ++i) p0(0, i) = pos[0][i];
  for (index_t i = 0; i < n1; ++i) p1(0, i) = pos[0][n0 + i], end1(0, i) = static_cast<std::int32_t>(kv_end(n0 + i));
  const auto p0d = to_device(ctx, p0), p1d = to_device(ctx, p1), e1d = to_device(ctx, end1);
  {
    const transformer::Segment<T, S> segs[] = {{&m0, x0.view()}};
    transformer::gemma_forward(ctx, std::span(segs), cache, transformer::StepAttention<S>{.start = 0, .positions = p0d.view()},
                               scratch);
  }
  transformer::DecodeStack stack(ctx, m1, cache, n1, n);
  transformer::StepAttention<S> at{.start = n0, .positions = p1d.view()};
  at.masks.kv_end = e1d.view();
  HostTensor<T, 3> first;
  // the defaults; every row staged by loads, epilogues not overlapped; Q rows by bulk copies too, 3 copies
  // of the rows, 5 barrier counters
  for (int run = 0; run < 3; ++run) {
    stack.bulk_stage = run == 0 ? 1 : run == 1 ? 0 : 3;
    stack.pipelined = run == 1 ? 0 : 1;
    stack.replicas = run == 2 ? 3 : 1;
    stack.barrier_ways = run == 2 ? 5 : 1;
    auto x1 = to_device(ctx, x1_h);
    stack.run(ctx, x1.view(), at);
    auto got = to_host(ctx, x1);
    EXPECT_TRUE(test::matches(got.view(), xs[1].view(), test::stream_tolerance<T>(test::max_abs(xs[1])),
                        fmt::format("DecodeStack run {} (bulk staging {}, {} copies, {} barrier counters, pipelined {}) vs float64",
                                          run, stack.bulk_stage, stack.replicas, stack.barrier_ways,
                                          stack.pipelined)));
    if (run == 0) first = std::move(got);
    else
      EXPECT_TRUE(test::matches(got.view(), test::to_double(first).view(), test::stream_tolerance<T>(test::max_abs(xs[1])),
                          fmt::format("DecodeStack: run {} vs the first", run)));
  }
  // A step that does not fit what it was sized for is refused.
  auto big = to_device(ctx, test::random_tensor<T, 3>({1, n1 + 1, e1.hidden}, 83, -1, 1));
  EXPECT_THROW(stack.run(ctx, big.view(), at), Error);
  auto x1 = to_device(ctx, x1_h);
  stack.replicas = 9;
  EXPECT_THROW(stack.run(ctx, x1.view(), at), Error);
  stack.replicas = 1, stack.barrier_ways = 0;
  EXPECT_THROW(stack.run(ctx, x1.view(), at), Error);
  stack.barrier_ways = 1, stack.bulk_stage = 4;
  EXPECT_THROW(stack.run(ctx, x1.view(), at), Error);
}
#endif
