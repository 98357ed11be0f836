// GPU backend: NormAct, softmax, global pooling, RoPE and the fused elementwise ops, the same cases as
// the CPU tests (op_cases_nn.hpp); the shapes reach every kernel of each op.
#include "gpu_backend.hpp"
#include "../op_cases_nn.hpp"

namespace fusekit::test {

TEST_F(Gpu, NormActNchwNhwcMaskedAndInPlace) {
  norm_act_cases(stream());
  norm_act_strided_case(stream());
}

// Every width of the NHWC pixel kernel (channels per thread), launched directly, on 45 pixels with masked
// cells.
TEST_F(Gpu, NormActPixelKernelShapes) {
  auto& s = stream();
  const index_t N = 3, C = 32, H = 3, W = 5;
  const Shape<4> sh{N, C, H, W};
  auto xm = image_memory<half>(sh, Layout::nhwc, 990);
  auto scale = random_tensor<half, 1>({C}, 991, 0.2, 1.5);
  auto bias = random_tensor<half, 1>({C}, 992, -1.0, 1.0);
  auto mask = board_mask<half>(N, H, W);
  auto dx = to_device(s, xm);
  auto ds = to_device(s, scale);
  auto db = to_device(s, bias);
  auto dm = to_device(s, mask);
  const auto mv = mask.view().as_const();
  const auto expect = reference::norm_act<half, half>(logical(xm.view().as_const(), Layout::nhwc), scale.view(),
                                                      bias.view(), &mv, reference::act::mish);
  auto check = [&](auto launch, const char* what) {
    auto out = Backend<hip::Stream>::poisoned<half, 4>(s, xm.shape());
    const Strides<4> st = image_strides(sh, Layout::nhwc);
    launch(NormActParams<half, half>{out.data(), dx.data(), dm.data(), ds.data(), db.data(), sh, st, st,
                                     Strides<4>{H * W, H * W, W, 1}, 1, 1});
    auto h = to_host(s, out);
    EXPECT_TRUE(matches(logical(h.view(), Layout::nhwc), expect.view(), fp32_tolerance<half>(4e-6),
                        fmt::format("norm_act pixel kernel, {}", what)));
  };
  using P = NormActParams<half, half>;
  check([&](const P& p) { kernels::launch_norm_act_pixel<1>(s, p, act::Mish{}); }, "8 channels per thread");
  check([&](const P& p) { kernels::launch_norm_act_pixel<2>(s, p, act::Mish{}); }, "16 channels per thread");
  check([&](const P& p) { kernels::launch_norm_act_pixel<4>(s, p, act::Mish{}); }, "32 channels per thread");
}

TEST_F(Gpu, SoftmaxAndLogSoftmaxWithMasks) { softmax_cases(stream()); }

// Every group size forced on rows that each can hold (vectors and element by element), and a row too long
// for the forced group is an error, not a wrong result.
TEST_F(Gpu, SoftmaxForcedGroupsAgreeAndRefuseRowsTheyCannotHold) {
  auto& s = stream();
  const int warp = s.device().warp_size;
  // (788 bf16: 197 8-byte vectors, which a warp holds; 787: element by element, too many for a warp)
  for (index_t cols : {788, 787})
    for (int group : {warp, 256, 1024}) {
      if (cols == 787 && group == warp) continue;
      auto x = random_tensor<bfloat16, 2>({37, cols}, 7000 + cols + group, -6.0, 6.0);
      auto out = Backend<hip::Stream>::poisoned<bfloat16, 2>(s, x.shape());
      softmax(s, out, to_device(s, x), {0.5f, false, group});
      const auto expect = reference::softmax<bfloat16>(x.view(), 0.5, false, [](index_t, index_t) { return 0.0; });
      EXPECT_TRUE(matches(to_host(s, out).view(), expect.view(), fp32_tolerance<bfloat16>(1e-6),
                          fmt::format("softmax 37x{} bf16, {} threads per row", cols, group)));
    }
  DeviceTensor<bfloat16, 2> wide({2, 16 * warp * 4 + 8}, s);
  EXPECT_THROW(softmax(s, wide, wide, {1.f, false, warp}), Error);
  EXPECT_THROW(softmax(s, wide, wide, {1.f, false, 100}), Error);
}

TEST_F(Gpu, KataGoGlobalPooling) { global_pool_cases(stream()); }

TEST_F(Gpu, RopeHalfSplitInterleavedAndKvCache) { rope_cases(stream()); }

TEST_F(Gpu, AxpbyScaleBiasAdd) { fused_elementwise_cases(stream()); }

}  // namespace fusekit::test
