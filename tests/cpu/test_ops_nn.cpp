// CPU backend: NormAct, softmax, global pooling, RoPE and the fused elementwise ops (op_cases_nn.hpp),
// plus their bad-input errors.
#include <gtest/gtest.h>

#include "../op_cases_nn.hpp"
#include "cpu_context.hpp"

using namespace fusekit;
using namespace fusekit::test;

TEST(CpuOpsNn, NormActNchwNhwcMaskedAndInPlace) {
  norm_act_cases(ctx());
  norm_act_strided_case(ctx());
}

TEST(CpuOpsNn, SoftmaxAndLogSoftmaxWithMasks) { softmax_cases(ctx()); }

TEST(CpuOpsNn, KataGoGlobalPooling) { global_pool_cases(ctx()); }

TEST(CpuOpsNn, RopeHalfSplitInterleavedAndKvCache) { rope_cases(ctx()); }

TEST(CpuOpsNn, AxpbyScaleBiasAdd) { fused_elementwise_cases(ctx()); }

TEST(CpuOpsNn, BadInputsNameTheTensorAndShape) {
  HostTensor<float, 4> x({2, 8, 19, 19}), out({2, 8, 19, 19}), mask_bad({2, 1, 19, 18});
  poison(out);  // (every output below is poisoned, and must stay so when the call is refused)
  HostTensor<float, 1> s({8}), s7({7});
  expect_error_untouched(ctx(), out, [&] { norm_act(ctx(), out, x, s, s, mask_bad, act::Mish{}); }, {"norm_act: mask has shape [2, 1, 19, 18]", "[2, 8, 19, 19]"});
  expect_error_untouched(ctx(), out, [&] { norm_act(ctx(), out, x, s7, s, act::Mish{}); }, {"norm_act: scale [7]", "8 channels"});
  HostTensor<float, 2> pooled({2, 23});
  poison(pooled);
  expect_error_untouched(ctx(), pooled, [&] { global_pool(ctx(), pooled, x, PoolKind::katago); }, {"global_pool: out has shape [2, 23]", "[2, 24]"});
  HostTensor<float, 2> logits({3, 5}), probs({3, 6});
  poison(logits), poison(probs);
  expect_error_untouched(ctx(), probs, [&] { softmax(ctx(), probs, logits); }, {"softmax: out has shape [3, 6] but x has shape [3, 5]"});
  HostTensor<float, 2> mask2({2, 5});
  expect_error_untouched(ctx(), logits, [&] { softmax(ctx(), logits, logits, mask2); }, {"tensor 'mask' of shape [2, 5]", "[3, 5]"});
  HostTensor<float, 3> q({4, 2, 7}), q8({4, 2, 8});
  poison(q), poison(q8);
  HostTensor<std::int32_t, 1> pos({4}), pos3({3});
  expect_error_untouched(ctx(), q, [&] { rope(ctx(), q, q, pos); }, {"rope: head_dim 7"});
  expect_error_untouched(ctx(), q8, [&] { rope(ctx(), q8, q8, pos3); }, {"rope: positions has shape [3]", "4 tokens"});
  HostTensor<float, 2> y({3, 4});
  poison(y);
  HostTensor<float, 1> b5({5});
  expect_error_untouched(ctx(), y, [&] { bias_add(ctx(), y, y, b5, 1); }, {"bias_add: bias of shape [5]", "axis 1", "[3, 4]"});
}

TEST(CpuOpsNn, SoftmaxFullyMaskedRowIsDefined) {
  HostTensor<float, 2> x({2, 3}), y({2, 3});
  HostTensor<bool, 2> keep({2, 3});
  for (int c = 0; c < 3; ++c) {
    x(0, c) = x(1, c) = static_cast<float>(c);
    keep(0, c) = false;
    keep(1, c) = c != 1;
  }
  softmax(ctx(), y, x, keep);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(y(0, c), 0.0f);
  EXPECT_EQ(y(1, 1), 0.0f);
  EXPECT_NEAR(y(1, 0) + y(1, 2), 1.0f, 1e-6f);
  log_softmax(ctx(), y, x, keep);
  for (int c = 0; c < 3; ++c) EXPECT_EQ(y(0, c), -std::numeric_limits<float>::infinity());
}
