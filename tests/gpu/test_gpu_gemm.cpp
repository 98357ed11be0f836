// GPU GEMM: the mma kernel (each tile configuration forced, both B orders), the SIMT kernel (forced, and
// for fp32 and layouts the mma kernel cannot take), Pi0 shapes, batches, odd sizes and every epilogue.
#include "gpu_backend.hpp"
#include "../gemm_cases.hpp"

namespace fusekit::test {

TEST_F(Gpu, GemmMmaTilesAndStorageOrders) {
  std::vector<GemmCase> cases;
  for (int tile = 0; tile < kernels::mma_tile_count; ++tile) {
    cases.push_back({1, 130, 200, 72, Storage::dense, Storage::transposed, false, false, tile, GemmPath::mma});
    cases.push_back({1, 77, 264, 40, Storage::wide, Storage::dense, false, false, tile, GemmPath::mma});
    cases.push_back({3, 33, 136, 24, Storage::dense, Storage::wide, true, true, tile, GemmPath::mma});
  }
  cases.push_back({1, 1, 8, 8, Storage::dense, Storage::transposed, false, false, -1, GemmPath::mma});
  // split-K: forced factors (uneven k ranges), and the policy's on thin shapes; two calls in a row
  // check that the tile counters were left at zero
  cases.push_back({1, 150, 264, 1000, Storage::dense, Storage::transposed, false, false, 0, GemmPath::mma, 3});
  cases.push_back({2, 40, 136, 520, Storage::dense, Storage::dense, true, false, 3, GemmPath::mma, 5});
  cases.push_back({1, 11, 1032, 4096, Storage::dense, Storage::transposed, false, false, 4, GemmPath::mma, 7});
  cases.push_back({1, 11, 1032, 4096, Storage::dense, Storage::transposed, false, false, 4, GemmPath::mma, 7});
  cases.push_back({1, 16, 2048, 1024, Storage::dense, Storage::transposed, false, false, -1, GemmPath::mma});
  cases.push_back({1, 11, 2048, 2048, Storage::dense, Storage::transposed, false, false, -1, GemmPath::mma});
  cases.push_back({2, 197, 136, 264, Storage::dense, Storage::transposed, true, false, -1, GemmPath::mma});
  gemm_plain_cases<true>(stream(), cases);
}

// The Hopper kernel (sm_90 GPUs with sm_90a code in the build): each tile, tails in M, N and K (K below
// one 64-wide k-tile), A with a row stride, batched and shared operands, split-K.
TEST_F(Gpu, GemmWgmmaTilesAndSplits) {
  if (stream().device().arch != "sm_90") GTEST_SKIP() << "the wgmma kernel needs an sm_90 GPU";
  std::vector<GemmCase> cases;
  for (int tile = 0; tile < kernels::wgmma_tile_count; ++tile) {
    cases.push_back({1, 130, 200, 72, Storage::dense, Storage::transposed, false, false, tile, GemmPath::wgmma});
    cases.push_back({1, 77, 264, 40, Storage::wide, Storage::transposed, false, false, tile, GemmPath::wgmma});
    cases.push_back({3, 33, 136, 24, Storage::dense, Storage::transposed, true, true, tile, GemmPath::wgmma});
    cases.push_back({2, 200, 520, 1000, Storage::dense, Storage::transposed, true, false, tile, GemmPath::wgmma, 3});
  }
  cases.push_back({1, 300, 392, 2056, Storage::dense, Storage::transposed, false, false, -1, GemmPath::wgmma});
  // split-K: up to 8 splits sum inside a cluster; 11 (12 asked, 3 k-tiles each) through the workspace
  cases.push_back({1, 300, 392, 2056, Storage::dense, Storage::transposed, false, false, -1, GemmPath::wgmma, 8});
  cases.push_back({1, 300, 392, 2056, Storage::dense, Storage::transposed, true, false, -1, GemmPath::wgmma, 12});
  cases.push_back({2, 129, 256, 128, Storage::wide, Storage::transposed, false, true, -1, GemmPath::wgmma, 2});
  cases.push_back({2, 129, 256, 128, Storage::wide, Storage::transposed, false, true, -1, GemmPath::wgmma, 2});
  gemm_plain_cases<true>(stream(), cases);
}

TEST_F(Gpu, GemmEpiloguesWgmma) {
  if (stream().device().arch != "sm_90") GTEST_SKIP() << "the wgmma kernel needs an sm_90 GPU";
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(
      stream(), {1, 150, 528, 96, Storage::dense, Storage::transposed, false, false, 0, GemmPath::wgmma}, 5100);
  gemm_epilogue_cases<hip::Stream, half, float>(
      stream(), {1, 257, 784, 136, Storage::wide, Storage::transposed, false, false, 1, GemmPath::wgmma}, 5200);
  gemm_epilogue_cases<hip::Stream, bfloat16, half>(
      stream(), {1, 70, 272, 520, Storage::dense, Storage::transposed, false, false, 0, GemmPath::wgmma, 4}, 5300);
  // N % 8 != 0: the last 8-column group of a row is partly past the output (its columns must not run
  // through the epilogue, whose bias and residual end there)
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(
      stream(), {1, 150, 522, 96, Storage::dense, Storage::transposed, false, false, 0, GemmPath::wgmma}, 5310);
  gemm_epilogue_cases<hip::Stream, half, float>(
      stream(), {1, 130, 1002, 136, Storage::dense, Storage::transposed, false, false, 1, GemmPath::wgmma}, 5320);
}

// The skinny kernel (M <= 16, k-major B): row counts 1..16, K from one vector to several unrolled passes,
// N not a multiple of the warp's columns, wide A, batches with shared and batched operands, every epilogue
// (incl. both gate layouts, beta, output casts), and the policy picking it for Pi0's decode shapes.
TEST_F(Gpu, GemmSkinnyPath) {
  std::vector<GemmCase> cases;
  for (index_t m : {1, 3, 11, 16})
    for (auto [n, k] : {std::pair<index_t, index_t>{1, 8}, {137, 24}, {1032, 1000}, {72, 4104}})
      cases.push_back({1, m, n, k, Storage::dense, Storage::transposed, false, false, -1, GemmPath::skinny});
  cases.push_back({3, 11, 136, 520, Storage::wide, Storage::transposed, true, false, -1, GemmPath::skinny});
  cases.push_back({2, 5, 264, 64, Storage::dense, Storage::transposed, true, true, -1, GemmPath::skinny});
  cases.push_back({1, 11, 2560, 1024});  // automatic: small_m on NVIDIA sm_80+, skinny where mma cannot run
  gemm_plain_cases<true>(stream(), cases);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(
      stream(), {1, 11, 528, 96, Storage::dense, Storage::transposed, false, false, -1, GemmPath::skinny}, 5400);
  gemm_epilogue_cases<hip::Stream, half, float>(
      stream(), {2, 7, 272, 136, Storage::wide, Storage::transposed, true, false, -1, GemmPath::skinny}, 5500);
  // Operands it cannot take are refused when it is forced.
  DeviceTensor<bfloat16, 2> a({4, 12}, stream()), w({16, 12}, stream()), c({4, 16}, stream());
  expect_error([&] { gemm(stream(), c, a, transposed(w.view()), GemmOptions{1.f, 0.f, GemmPath::skinny}); }, "K % 8 == 0");
  DeviceTensor<bfloat16, 2> a2({17, 16}, stream()), w2({16, 16}, stream()), c2({17, 16}, stream());
  expect_error([&] { gemm(stream(), c2, a2, transposed(w2.view()), GemmOptions{1.f, 0.f, GemmPath::skinny}); },
               "at most 16 rows");
  expect_error([&] { gemm(stream(), c2.view().slice(0, 0, 16), a2.view().slice(0, 0, 16), w2, GemmOptions{1.f, 0.f, GemmPath::skinny}); },
               "B needs dense 16-byte aligned k");
}

// The small_m kernel (M <= 16 on NVIDIA matrix cores, k-major B): rows 1..16 (one and two n8 halves of
// x), K from one vector to many chunks (tails inside a k-step), N not a multiple of the block's 16
// columns, each block shape (kernels::SmallMShapes, forced through the tile), wide A, batches with shared and batched operands, split-K in clusters (sm_90: up to 8) and
// through the workspace (more than 8, or no clusters), every epilogue, and the policy's choice.
TEST_F(Gpu, GemmSmallMPath) {
  if (!OpImpl<op::Gemm, HipBackend>::mma_device_blocker<bfloat16>(stream()).empty())
    GTEST_SKIP() << "the small_m kernel needs NVIDIA sm_80+ matrix cores";
  std::vector<GemmCase> cases;
  for (int shape = -1; shape < kernels::small_m_shape_count; ++shape) {  // the policy's, then each forced
    for (index_t m : {1, 3, 8, 9, 11, 16})
      for (auto [n, k] : {std::pair<index_t, index_t>{1, 8}, {137, 24}, {1032, 1000}, {72, 4104}})
        cases.push_back({1, m, n, k, Storage::dense, Storage::transposed, false, false, shape, GemmPath::small_m});
    for (int splits : {1, 2, 3, 8, 12})
      cases.push_back({1, 11, 200, 2056, Storage::dense, Storage::transposed, false, false, shape, GemmPath::small_m, splits});
  }
  // A large tile count after a small one: the workspace's tile counters must not meet old partial sums.
  cases.push_back({1, 11, 72, 4104, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 12});
  cases.push_back({1, 11, 4104, 520, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 12});
  cases.push_back({1, 11, 4104, 520, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 12});
  cases.push_back({3, 11, 136, 520, Storage::wide, Storage::transposed, true, false, -1, GemmPath::small_m});
  cases.push_back({2, 5, 264, 64, Storage::dense, Storage::transposed, true, true, -1, GemmPath::small_m, 2});
  cases.push_back({2, 16, 264, 1024, Storage::dense, Storage::transposed, false, true, -1, GemmPath::small_m});
  for (auto [n, k] : {std::pair<index_t, index_t>{2560, 1024}, {1024, 2048}, {8192, 1024}, {1024, 4096}})
    cases.push_back({1, 11, n, k});  // the policy (small_m here), Pi0's decode projections
  gemm_plain_cases<true>(stream(), cases);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(
      stream(), {1, 11, 528, 96, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m}, 5600);
  gemm_epilogue_cases<hip::Stream, half, float>(
      stream(), {2, 7, 272, 1352, Storage::wide, Storage::transposed, true, false, -1, GemmPath::small_m, 3}, 5700);
  gemm_epilogue_cases<hip::Stream, bfloat16, half>(
      stream(), {1, 16, 1040, 4096, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 10}, 5800);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(  // N % 8 != 0
      stream(), {1, 11, 522, 96, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m}, 5810);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(  // the 4-warp block, split in a cluster
      stream(), {1, 11, 1032, 1040, Storage::dense, Storage::transposed, false, false, 1, GemmPath::small_m, 2}, 5820);
  gemm_epilogue_cases<hip::Stream, half, half>(  // the 8-warp block, many splits through the workspace
      stream(), {2, 9, 528, 2056, Storage::dense, Storage::transposed, false, true, 0, GemmPath::small_m, 10}, 5830);
  DeviceTensor<bfloat16, 2> a({4, 12}, stream()), w({16, 12}, stream()), c({4, 16}, stream());
  expect_error([&] { gemm(stream(), c, a, transposed(w.view()), GemmOptions{1.f, 0.f, GemmPath::small_m}); }, "K % 8 == 0");
  DeviceTensor<bfloat16, 2> a2({17, 16}, stream()), w2({16, 16}, stream()), c2({17, 16}, stream());
  expect_error([&] { gemm(stream(), c2, a2, transposed(w2.view()), GemmOptions{1.f, 0.f, GemmPath::small_m}); },
               "at most 16 rows");
  DeviceTensor<bfloat16, 2> a3({4, 16}, stream()), w3({16, 16}, stream()), c3({4, 16}, stream());
  expect_error([&] { gemm(stream(), c3, a3, transposed(w3.view()), GemmOptions{1.f, 0.f, GemmPath::small_m, 7}); },
               "block shapes");
}

// epi::rope + epi::store_heads on every kernel: the partner column must sit in each kernel's tile.
TEST_F(Gpu, GemmRopeEpilogue) {
  gemm_rope_cases<hip::Stream, float, float>(stream(), {1, 37, 72, 96, Storage::dense, Storage::transposed, false, false, -1, GemmPath::simt}, 5900);
  gemm_rope_cases<hip::Stream, bfloat16, bfloat16>(stream(), {2, 37, 200, 96, Storage::dense, Storage::transposed, false, false, 1, GemmPath::mma}, 5910);
  gemm_rope_cases<hip::Stream, half, float>(stream(), {1, 11, 300, 520, Storage::dense, Storage::transposed, false, false, 4, GemmPath::mma, 3}, 5920);
  if (OpImpl<op::Gemm, HipBackend>::mma_device_blocker<bfloat16>(stream()).empty()) {
    gemm_rope_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 300, 1040, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m}, 5930);
    gemm_rope_cases<hip::Stream, bfloat16, half>(stream(), {3, 5, 136, 2056, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 3}, 5940);
    gemm_rope_cases<hip::Stream, half, half>(stream(), {1, 16, 72, 4104, Storage::dense, Storage::transposed, false, false, -1, GemmPath::small_m, 12}, 5950);
  }
  if (stream().device().arch == "sm_90") {
    gemm_rope_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 130, 300, 136, Storage::dense, Storage::transposed, false, false, 0, GemmPath::wgmma}, 5960);
    gemm_rope_cases<hip::Stream, bfloat16, bfloat16>(stream(), {2, 70, 520, 1024, Storage::dense, Storage::transposed, false, false, 1, GemmPath::wgmma, 4}, 5970);
  }
}

TEST_F(Gpu, GemmPi0Shapes) {
  std::uint64_t salt = 4500;
  const RefEpilogue plain = [](const auto& acc, index_t b, index_t r, index_t j) { return acc_at(acc, b, r, j); };
  auto none = [] { return Epilogue<>{}; };
  gemm_case<hip::Stream, bfloat16, bfloat16>(stream(), {1, 788, 4304, 1152}, 4304, none, plain, salt++);
  gemm_case<hip::Stream, bfloat16, float>(stream(), {1, 788, 1152, 4304}, 1152, none, plain, salt++);
  gemm_case<hip::Stream, half, half>(stream(), {1, 11, 1024, 4096}, 1024, none, plain, salt++);
}

TEST_F(Gpu, GemmSimtPathAndFp32) {
  std::vector<GemmCase> cases = {
      {1, 1, 1, 1},
      {1, 11, 72, 1152, Storage::dense, Storage::transposed, false, false, -1, GemmPath::simt},
      {1, 77, 130, 33, Storage::transposed, Storage::dense},  // A column-major, K odd: SIMT automatically
      {1, 130, 300, 64, Storage::wide, Storage::wide, false, false, -1, GemmPath::simt},
      {3, 20, 24, 17, Storage::dense, Storage::transposed, true, false},
      {2, 33, 40, 9, Storage::transposed, Storage::dense, true, true},
      {1, 4, 5, 0},
  };
  gemm_plain_cases<true>(stream(), cases);
}

TEST_F(Gpu, GemmEpiloguesMma) {
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 150, 528, 96}, 4600);
  gemm_epilogue_cases<hip::Stream, half, float>(
      stream(), {2, 70, 272, 40, Storage::dense, Storage::dense, true, false, 3, GemmPath::mma}, 4700);
  gemm_epilogue_cases<hip::Stream, bfloat16, half>(
      stream(), {1, 64, 1040, 64, Storage::dense, Storage::transposed, false, false, 0, GemmPath::mma}, 4800);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(
      stream(), {1, 11, 272, 512, Storage::dense, Storage::transposed, false, false, 4, GemmPath::mma, 4}, 4850);
  gemm_epilogue_cases<hip::Stream, bfloat16, bfloat16>(  // N % 8 != 0 (the last column group partly outside)
      stream(), {1, 70, 522, 64, Storage::dense, Storage::transposed, false, false, 0, GemmPath::mma}, 4860);
}

TEST_F(Gpu, GemmEpiloguesSimt) {
  gemm_epilogue_cases<hip::Stream, float, float>(stream(), {1, 37, 130, 21}, 4900);
  gemm_epilogue_cases<hip::Stream, half, bfloat16>(
      stream(), {2, 11, 66, 16, Storage::transposed, Storage::dense, true, true, -1, GemmPath::simt}, 5000);
}

TEST_F(Gpu, GemmBadInputs) {
  gemm_bad_input_cases(stream());
  auto& s = stream();
  DeviceTensor<bfloat16, 2> a({16, 12}, s), b({12, 16}, s), c({16, 16}, s);
  try {  // K = 12 is not a multiple of 8: the mma kernel cannot take it, and says why
    gemm(s, c, a, b, GemmOptions{1.f, 0.f, GemmPath::mma});
    ADD_FAILURE() << "forced mma path accepted K = 12";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("K % 8 == 0"), std::string::npos) << e.what();
  }
  DeviceTensor<bfloat16, 2> b2({16, 16}, s);
  try {  // B stored [K, N] (n-major) is not a Linear weight: the wgmma kernel refuses it, on any GPU
    gemm(s, c, b2, b2, GemmOptions{1.f, 0.f, GemmPath::wgmma});
    ADD_FAILURE() << "forced wgmma path accepted an n-major B";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("wgmma path was forced"), std::string::npos) << what;
  }
}

}  // namespace fusekit::test
