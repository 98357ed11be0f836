// CPU backend: the shared op cases (op_cases.hpp) plus bad-input errors.
#include <gtest/gtest.h>

#include "../op_cases.hpp"
#include "cpu_context.hpp"

using namespace fusekit;
using namespace fusekit::test;


TEST(CpuOps, Fill) { fill_cases(ctx()); }

TEST(CpuOps, CopyCastBetweenDtypes) {
  cast_cases(ctx());
  cast_case<cpu::Context, double, bfloat16>(ctx(), {1, 1}, 9);
}

TEST(CpuOps, AddWithBroadcasting) { add_cases(ctx()); }

TEST(CpuOps, ActivationsAndGatedActivations) { activation_cases(ctx()); }

TEST(CpuOps, AddRejectsShapesThatDoNotBroadcast) {
  HostTensor<float, 2> a({3, 4}), b({2, 4}), out({3, 4});
  try {
    add(ctx(), out, a, b);
    FAIL() << "expected fusekit::Error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("add: tensor 'b' of shape [2, 4] (f32)"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 4]"), std::string::npos) << m;
  }
}

TEST(CpuOps, RmsNormWithoutWeight) {
  for (NormCase k : {NormCase{1, 72, false, false}, NormCase{11, 1024, false, false}, NormCase{37, 130, false, false}}) {
    k.no_weight = true;
    norm_case<cpu::Context, float, float>(ctx(), k, 150);
    norm_case<cpu::Context, bfloat16, bfloat16>(ctx(), k, 350);
  }
}

class CpuNorm : public ::testing::TestWithParam<NormCase> {};

TEST_P(CpuNorm, RmsNormAndLayerNormMatchFloat64Reference) {
  for (bool layer : {false, true}) {
    auto k = GetParam();
    k.layer = layer;
    norm_case<cpu::Context, float, float>(ctx(), k, 100);
    norm_case<cpu::Context, half, half>(ctx(), k, 200);
    norm_case<cpu::Context, bfloat16, bfloat16>(ctx(), k, 300);
    norm_case<cpu::Context, bfloat16, float>(ctx(), k, 400);
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, CpuNorm,
                         ::testing::Values(NormCase{1, 72, false, false}, NormCase{11, 1024, true, true},
                                           NormCase{3, 7, true, false}, NormCase{788, 1152, false, true},
                                           NormCase{13, 4304, true, true, KernelPath::automatic, true},
                                           NormCase{5, 16384, true, false}, NormCase{64, 2048, true, true},
                                           NormCase{9, 1152, false, false, KernelPath::automatic, false, 0, false, 1000.0}),
                         [](const ::testing::TestParamInfo<NormCase>& i) {
                           return fmt::format("{}x{}{}{}{}", i.param.rows, i.param.cols, i.param.residual ? "_residual" : "",
                                              i.param.strided ? "_strided" : "", i.param.offset != 0 ? "_far_from_zero" : "");
                         });

TEST(CpuOps, LayerNormRowsWithAFarOutFirstValue) {
  for (NormCase k : {NormCase{9, 1152, false, false}, NormCase{5, 72, true, false}}) {
    k.layer = true;
    k.far_first = 1000.0;
    norm_case<cpu::Context, float, float>(ctx(), k, 820);
    norm_case<cpu::Context, bfloat16, float>(ctx(), k, 920);
  }
}

TEST(CpuOps, LayerNormBadInputs) {
  HostTensor<float, 2> x({4, 8}), out({4, 8});
  HostTensor<float, 1> w({8}), b7({7});
  try {
    layernorm(ctx(), out, x, w, b7);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("layernorm: bias has shape [7] but x has 8 columns"), std::string::npos)
        << e.what();
  }
}

TEST(CpuOps, RmsNormBadInputs) {
  HostTensor<float, 2> x({4, 8}), out({4, 8}), wrong({4, 9});
  HostTensor<float, 1> w({8}), w9({9});
  try {
    rmsnorm(ctx(), out, x, w9);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rmsnorm: weight has shape [9] but x has 8 columns"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(rmsnorm(ctx(), wrong, x, w), Error);
  EXPECT_THROW(rmsnorm(ctx(), out, wrong, x, x, w), Error);
  EXPECT_THROW(rmsnorm(ctx(), out, x, w, RmsNormOptions{-1.f}), Error);
}

TEST(CpuOps, RmsNormNonFiniteInputsPropagate) {
  HostTensor<float, 2> x({2, 4}), out({2, 4});
  HostTensor<float, 1> w({4});
  fill(ctx(), x, 1.0);
  fill(ctx(), w, 1.0);
  x(0, 1) = std::numeric_limits<float>::quiet_NaN();
  rmsnorm(ctx(), out, x, w);
  for (int c = 0; c < 4; ++c) EXPECT_TRUE(std::isnan(out(0, c)));  // NaN poisons its row only
  for (int c = 0; c < 4; ++c) EXPECT_FLOAT_EQ(out(1, c), 1.0f / std::sqrt(1.0f + 1e-6f));
}

TEST(CpuOps, RmsNormInPlace) {
  auto x = random_tensor<float, 2>({7, 33}, 500);
  auto r = random_tensor<float, 2>({7, 33}, 501);
  auto w = random_tensor<float, 1>({33}, 502);
  auto [y, s] = reference::rmsnorm_residual<float, float>(x.view(), r.view(), w.view(), 1e-6, true);
  auto lx = x.clone();
  auto lw = random_tensor<float, 1>({33}, 503);
  const auto ly = reference::layernorm<float, float>(lx.view(), w.view(), lw.view(), 1e-6);
  layernorm(ctx(), lx, lx, w, lw);  // out aliases x
  EXPECT_TRUE(matches(lx.view(), ly.view(), reference::tolerance_for<float>(), "in-place layernorm"));
  rmsnorm(ctx(), x, r, x, r, w, {1e-6f, true});  // out aliases x, residual_out aliases residual
  EXPECT_TRUE(matches(x.view(), y.view(), reference::tolerance_for<float>()));
  EXPECT_TRUE(matches(r.view(), reference::to_double(s.view().as_const()).view(), {0, 0}));
}
