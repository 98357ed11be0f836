// CPU convolution: both algorithms, both layouts, both weight orders, every fusion, odd sizes, against
// the float64 direct convolution.
#include "../conv_cases.hpp"
#include "cpu_context.hpp"

namespace fusekit::test {
namespace {

// Threads change the work split (one thread: Winograd tile blocks end to end; more: three passes, GEMMs
// split by position and column range; 1x1 convs by pixel block and column range): every count is checked.
TEST(CpuConv, WinogradAndIm2colEveryFusion) {
  std::uint64_t salt = 9000;
  for (int threads : {1, 2, 16}) {
    SCOPED_TRACE(fmt::format("{} threads", threads));
    for (ConvAlgo algo : {ConvAlgo::winograd, ConvAlgo::implicit_gemm}) {
      conv_fusion_cases<cpu::Context, float, float>(ctx_with(threads), {2, 24, 40, 7, 11, 3, Layout::nhwc, true, {}, algo},
                                                    salt);
      salt += 10;
    }
  }
  conv_fusion_cases<cpu::Context, float, bfloat16>(ctx(), {3, 16, 24, 9, 9, 3}, salt += 10);
}

// The Winograd tile transforms (written out per row of B^T and A^T) against the matrices themselves in
// double, over channel counts around the vector width and the transforms' channel block. Tolerance: fp32
// rounding of a 36-term sum, 2e-6 of the sum of its terms' magnitudes (A^T's coefficients reach 8, so an
// output element's terms reach 64 |d|: a bound relative to the result alone failed on fresh inputs, 1.7e-5
// off a result of 0.618; a wrong coefficient is off by about |d|, far above it).
TEST(CpuConv, WinogradTransformsMatchTheirMatrices) {
  namespace wg = cpu::winograd;
  std::uint64_t salt = 9050;
  for (index_t n : {1, 5, 17, 64, 70, 131}) {
    SCOPED_TRACE(fmt::format("{} channels", n));
    const auto d = random_tensor<float, 3>({6, 6, n}, salt++);  // (k, l, channel)
    HostTensor<float, 3> v({wg::positions, 1, n});
    poison(v);
    wg::input_transform([&](int k, int l) { return d.data() + (k * 6 + l) * n; }, [&](int pos) { return v.data() + pos * n; },
                        n);
    HostTensor<float, 2> y({16, n});
    poison(y);
    wg::output_transform([&](int pos) { return d.data() + pos * n; }, y.data(), n);
    for (index_t c = 0; c < n; ++c) {
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          double e = 0, mag = 0;
          for (int k = 0; k < 6; ++k)
            for (int l = 0; l < 6; ++l) {
              const double term = double{wg::BT[i][k]} * d(k, l, c) * double{wg::BT[j][l]};
              e += term, mag += std::abs(term);
            }
          ASSERT_NEAR(v(i * 6 + j, 0, c), e, 1e-7 + 2e-6 * mag) << "input transform (" << i << ", " << j << ")";
        }
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) {
          double e = 0, mag = 0;
          for (int k = 0; k < 6; ++k)
            for (int l = 0; l < 6; ++l) {
              const double term = double{wg::AT[i][k]} * d(k, l, c) * double{wg::AT[j][l]};
              e += term, mag += std::abs(term);
            }
          ASSERT_NEAR(y(i * 4 + j, c), e, 1e-7 + 2e-6 * mag) << "output transform (" << i << ", " << j << ")";
        }
    }
  }
}

// A store_norm_act stage last (and only there) lets the GPU kernels store its 8 columns as one vector.
static_assert(Epilogue<epi::Residual<float, HostSpace>, epi::StoreNormAct<half, half, HostSpace, act::Mish>>::side_last);
static_assert(!Epilogue<epi::StoreNormAct<half, half, HostSpace, act::Mish>, epi::Residual<float, HostSpace>>::side_last);
static_assert(!Epilogue<epi::Residual<float, HostSpace>>::side_last && !Epilogue<>::side_last);

TEST(CpuConv, KataGoShapes) {
  std::uint64_t salt = 9100;
  // The trunk's 3x3 192 -> 192 residual conv on 19x19, the 5x5 input conv (22 planes), 1x1 heads.
  conv_case<cpu::Context, float, float>(ctx(), {2, 192, 192, 19, 19, 3, Layout::nchw, false, ConvFusion::katago}, salt++);
  conv_case<cpu::Context, float, float>(ctx(), {2, 22, 64, 19, 19, 5, Layout::nchw, false, ConvFusion::bias_relu}, salt++);
  conv_case<cpu::Context, float, float>(ctx(), {3, 96, 32, 19, 19, 1, Layout::nhwc, true, ConvFusion::norm_epilogue}, salt++);
  conv_case<cpu::Context, float, half>(ctx(), {1, 128, 64, 19, 19, 3, Layout::nhwc, false, ConvFusion::katago}, salt++);
  conv_case<cpu::Context, float, float>(ctx(), {64, 22, 16, 9, 9, 5, Layout::nhwc, true}, salt++);
  conv_case<cpu::Context, float, float>(ctx(), {5, 8, 8, 1, 1, 3, Layout::nchw, true}, salt++);  // 1x1 board
  // Batch 1 at every thread count: Winograd in one pass (1 and 2 threads) and in three (16 threads: 25
  // tiles), the 1x1 conv split by pixel block and column range.
  for (int threads : {1, 2, 16}) {
    SCOPED_TRACE(fmt::format("{} threads", threads));
    cpu::Context& c = ctx_with(threads);
    conv_case<cpu::Context, float, float>(c, {1, 192, 192, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago}, salt++);
    conv_case<cpu::Context, float, float>(c, {1, 384, 192, 19, 19, 1, Layout::nhwc, true, ConvFusion::katago}, salt++);
  }
  // Single-pass Winograd with more tiles than one block per thread holds (96): as many blocks for every
  // thread, 2 each (batch 8 on 2 threads: 200 tiles; batch 64 on 16: 1600).
  conv_case<cpu::Context, float, float>(ctx_with(2), {8, 16, 24, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago}, salt++);
  conv_case<cpu::Context, float, float>(ctx_with(16), {64, 8, 8, 19, 19, 3, Layout::nhwc, true}, salt++);
}

TEST(CpuConv, PreparedWeightsMatchRawWeights) {
  auto x = image_memory<float>({2, 32, 19, 19}, Layout::nhwc, 9200, -1.0, 1.0);
  auto w = random_tensor<float, 4>({48, 32, 3, 3}, 9201, -0.1, 0.1);
  HostTensor<float, 4> y1({2, 19, 19, 48}), y2({2, 19, 19, 48});
  poison(y1);
  poison(y2);
  const auto xl = logical(x.view(), Layout::nhwc);
  conv2d(ctx(), logical(y1.view(), Layout::nhwc), xl, w);
  const cpu::ConvWeights pw = cpu::prepare_conv_weights(w.view().as_const());
  conv2d(ctx(), logical(y2.view(), Layout::nhwc), xl, pw);
  for (index_t i = 0; i < y1.numel(); ++i) ASSERT_EQ(y1.data()[i], y2.data()[i]) << "element " << i;
}

TEST(CpuConv, BadInputsNameTheShapes) {
  conv_bad_input_cases(ctx());
  auto x = random_tensor<float, 4>({1, 4, 5, 5}, 1);
  auto w5 = random_tensor<float, 4>({4, 4, 5, 5}, 2);
  HostTensor<float, 4> y({1, 4, 5, 5});
  expect_error([&] { conv2d(ctx(), y, x, w5, ConvOptions{ConvAlgo::winograd}); }, "winograd was forced");
  HostTensor<float, 1> s({4}), b({4});
  fill(ctx(), s, 1.0);
  fill(ctx(), b, 0.0);
  expect_error([&] {
    conv2d(ctx(), y, x, w5, input_norm_act(s, b, act::Mish{}), make_epilogue(),
           ConvOptions{ConvAlgo::automatic, GemmPath::automatic, -1, ConvPrologue::in_loader});
  }, "in_loader prologue is a GPU choice");
}

}  // namespace
}  // namespace fusekit::test
