// GPU convolution: the wgmma and mma implicit-GEMM paths (NHWC, OHWI, f16/bf16) with every tile forced, the SIMT
// path (fp32, NCHW, OIHW, odd channel counts, and forced), Winograd (forced), every fusion, KataGo shapes.
#include "gpu_backend.hpp"
#include "../conv_cases.hpp"

namespace fusekit::test {

TEST_F(Gpu, ConvMmaEveryFusionAndTile) {
  std::uint64_t salt = 9500;
  for (ConvFusion f : {ConvFusion::none, ConvFusion::bias_relu, ConvFusion::katago, ConvFusion::norm_epilogue}) {
    conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {3, 64, 72, 19, 19, 3, Layout::nhwc, true, f, {}, GemmPath::mma}, salt++);
    conv_case<hip::Stream, half, half>(stream(), {2, 24, 40, 7, 11, 5, Layout::nhwc, true, f, {}, GemmPath::mma}, salt++);
  }
  // The prologue in the copier (forced) for 1x1 and K x K kernels.
  for (ConvFusion f : {ConvFusion::katago, ConvFusion::norm_epilogue}) {
    conv_case<hip::Stream, half, half>(
        stream(), {2, 24, 40, 7, 11, 5, Layout::nhwc, true, f, {}, GemmPath::mma, -1, ConvPrologue::in_loader}, salt++);
    conv_case<hip::Stream, bfloat16, bfloat16>(
        stream(), {3, 96, 40, 9, 9, 1, Layout::nhwc, true, f, {}, GemmPath::mma, -1, ConvPrologue::in_loader}, salt++);
  }
  for (int tile = 0; tile < kernels::mma_tile_count; ++tile)
    conv_case<hip::Stream, half, float>(stream(), {2, 40, 48, 9, 9, 3, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::mma, tile},
                                        salt++);
  conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {5, 96, 32, 19, 19, 1, Layout::nhwc, true, ConvFusion::norm_epilogue, {}, GemmPath::mma},
                                             salt++);
}

// The Hopper kernel (sm_90 GPUs with sm_90a code in the build): uniform-tap (Cin % 64 == 0) and general
// copier paths, the prologue staged and applied by the producer warpgroup, every tile, KataGo's trunk shapes.
TEST_F(Gpu, ConvWgmmaEveryFusionAndTile) {
  if (stream().device().arch != "sm_90") GTEST_SKIP() << "the wgmma kernel needs an sm_90 GPU";
  std::uint64_t salt = 9550;
  for (ConvFusion f : {ConvFusion::none, ConvFusion::bias_relu, ConvFusion::katago, ConvFusion::norm_epilogue}) {
    conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {3, 64, 72, 19, 19, 3, Layout::nhwc, true, f, {}, GemmPath::wgmma}, salt++);
    conv_case<hip::Stream, half, half>(stream(), {2, 24, 40, 7, 11, 5, Layout::nhwc, true, f, {}, GemmPath::wgmma}, salt++);
    conv_case<hip::Stream, half, half>(stream(), {2, 96, 200, 9, 9, 1, Layout::nhwc, true, f, {}, GemmPath::wgmma}, salt++);
    if (has_prologue(f))  // the producer warpgroup applying it (forced)
      for (index_t k : {1, 3})
        conv_case<hip::Stream, half, half>(
            stream(), {2, 96, 200, 9, 9, k, Layout::nhwc, true, f, {}, GemmPath::wgmma, -1, ConvPrologue::in_loader}, salt++);
  }
  for (int tile = 0; tile < kernels::wgmma_conv_tile_count; ++tile)
    conv_case<hip::Stream, half, float>(
        stream(), {2, 40, 48, 9, 9, 3, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::wgmma, tile}, salt++);
  conv_case<hip::Stream, bfloat16, bfloat16>(
      stream(), {5, 192, 384, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::wgmma}, salt++);
  conv_case<hip::Stream, half, half>(
      stream(), {40, 384, 192, 19, 19, 1, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::wgmma}, salt++);
  // A by TMA im2col (Cin % 64 == 0): non-square images, 5x5 (pad 2), tiles reading past their image, 1x1;
  // and the same gathered by the producer warpgroup (forced), every split-K factor's partial tiles.
  for (bool im2col : {true, false}) {
    const ConvCase base{3, 64, 72, 7, 11, 5, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::wgmma};
    for (int tile = 0; tile < kernels::wgmma_conv_tile_count; ++tile) {
      ConvCase c = base;
      c.tile = tile, c.tma_im2col = im2col;
      conv_case<hip::Stream, half, half>(stream(), c, salt++);
    }
    for (int splits : {1, 3, 7, 12}) {  // up to 8 sum inside a cluster, 12 through the workspace
      ConvCase c{1, 192, 192, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago, {}, GemmPath::wgmma, 1};
      c.splits = splits, c.tma_im2col = im2col;
      conv_case<hip::Stream, bfloat16, bfloat16>(stream(), c, salt++);
    }
    ConvCase c{2, 128, 64, 9, 13, 1, Layout::nhwc, true, ConvFusion::norm_epilogue, {}, GemmPath::wgmma};
    c.tma_im2col = im2col;
    conv_case<hip::Stream, bfloat16, float>(stream(), c, salt++);
  }
}

TEST_F(Gpu, ConvSimtPathAndFp32) {
  std::uint64_t salt = 9600;
  conv_fusion_cases<hip::Stream, float, float>(stream(), {2, 22, 40, 7, 11, 5, Layout::nchw, false}, salt);
  conv_fusion_cases<hip::Stream, bfloat16, float>(stream(), {3, 16, 24, 9, 9, 3, Layout::nhwc, false, {}, {}, GemmPath::simt}, salt + 10);
  // automatic falls back to SIMT: NCHW, OIHW, Cin = 22
  conv_case<hip::Stream, half, half>(stream(), {2, 24, 16, 9, 9, 3, Layout::nchw, true, ConvFusion::katago}, salt + 20);
  conv_case<hip::Stream, half, half>(stream(), {2, 24, 16, 9, 9, 3, Layout::nhwc, false, ConvFusion::katago}, salt + 21);
  conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {2, 22, 16, 19, 19, 5, Layout::nhwc, true, ConvFusion::bias_relu}, salt + 22);
  // The prologue computed per A element (forced) instead of staged.
  conv_case<hip::Stream, float, float>(
      stream(), {2, 22, 40, 7, 11, 3, Layout::nchw, false, ConvFusion::katago, {}, {}, -1, ConvPrologue::in_loader}, salt + 23);
}

TEST_F(Gpu, ConvKataGoShapes) {
  std::uint64_t salt = 9700;
  for (index_t n : {1, 8, 33})
    conv_case<hip::Stream, half, half>(stream(), {n, 192, 192, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago}, salt++);
  conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {4, 384, 128, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago}, salt++);
  conv_case<hip::Stream, half, half>(stream(), {64, 96, 96, 9, 9, 3, Layout::nhwc, true, ConvFusion::katago}, salt++);
  conv_case<hip::Stream, half, float>(stream(), {256, 8, 8, 9, 9, 1, Layout::nhwc, true, ConvFusion::norm_epilogue}, salt++);
}

// Winograd F(4x4, 3x3), forced (the GPU's automatic policy never takes it): every fusion in both layouts,
// images that end inside a tile (7x11, 9x9, 5x5, 1x1), an odd channel count (the last channel pair is
// half full), each dtype, the inner GEMM on each path, and KataGo's trunk conv.
TEST_F(Gpu, ConvWinograd) {
  std::uint64_t salt = 9800;
  constexpr ConvAlgo wino = ConvAlgo::winograd;
  conv_fusion_cases<hip::Stream, float, float>(stream(), {2, 13, 24, 7, 11, 3, Layout::nhwc, true, {}, wino}, salt);
  conv_fusion_cases<hip::Stream, half, half>(stream(), {3, 64, 72, 9, 9, 3, Layout::nhwc, true, {}, wino}, salt + 10);
  conv_fusion_cases<hip::Stream, bfloat16, float>(stream(), {2, 40, 48, 5, 5, 3, Layout::nhwc, false, {}, wino}, salt + 20);
  conv_case<hip::Stream, half, half>(stream(), {4, 24, 16, 1, 1, 3, Layout::nhwc, true, ConvFusion::katago, wino}, salt + 30);
  conv_case<hip::Stream, bfloat16, bfloat16>(stream(), {1, 21, 8, 19, 19, 3, Layout::nchw, false, ConvFusion::katago, wino}, salt + 31);
  for (GemmPath path : {GemmPath::simt, GemmPath::mma, GemmPath::wgmma}) {
    if (path == GemmPath::wgmma && stream().device().arch != "sm_90") continue;
    conv_case<hip::Stream, half, half>(stream(), {2, 64, 64, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago_tee, wino, path},
                                       salt + 40 + static_cast<int>(path));
  }
  for (index_t n : {1, 8})
    conv_case<hip::Stream, half, half>(stream(), {n, 192, 192, 19, 19, 3, Layout::nhwc, true, ConvFusion::katago, wino}, salt + 50 + n);
  // The products in x's dtype (ConvOptions::winograd_fp32_products = false).
  for (ConvFusion f : {ConvFusion::katago, ConvFusion::norm_epilogue}) {
    ConvCase c{3, 192, 192, 19, 19, 3, Layout::nhwc, true, f, wino};
    c.winograd_fp32_products = false;
    conv_case<hip::Stream, half, half>(stream(), c, salt + 60 + static_cast<int>(f));
    c.cin = 40, c.cout = 24, c.h = 9, c.w = 7;
    conv_case<hip::Stream, bfloat16, bfloat16>(stream(), c, salt + 70 + static_cast<int>(f));
  }
  DeviceTensor<half, 4> x({1, 8, 5, 5}, stream()), w({8, 8, 5, 5}, stream()), y({1, 8, 5, 5}, stream());
  expect_error([&] { conv2d(stream(), y, x, w, ConvOptions{wino}); }, "winograd was forced but it is for 3x3 kernels");
}

TEST_F(Gpu, ConvBadInputsNameTheShapes) {
  conv_bad_input_cases(stream());
  DeviceTensor<half, 4> x({1, 4, 5, 5}, stream()), w({4, 4, 3, 3}, stream()), y({1, 4, 5, 5}, stream());
  expect_error([&] { conv2d(stream(), y, x, w, ConvOptions{ConvAlgo::automatic, GemmPath::mma}); },
               "mma path was forced");
  expect_error([&] { conv2d(stream(), y, x, w, ConvOptions{ConvAlgo::automatic, GemmPath::wgmma}); },
               "wgmma path was forced");
}

}  // namespace fusekit::test
