// CPU GEMM: every storage order, batches, odd sizes and every epilogue against the float64 reference.
#include <cmath>
#include <limits>
#include <vector>

#include "../gemm_cases.hpp"
#include "fusekit/cpu/packed_gemm.hpp"
#include "cpu_context.hpp"

namespace fusekit::test {
namespace {

TEST(CpuGemm, StorageOrdersBatchesAndOddSizes) {
  gemm_plain_cases<false>(ctx(), {
                              {1, 1, 1, 1},
                              {1, 11, 72, 1152, Storage::dense, Storage::transposed},
                              {1, 77, 130, 33, Storage::transposed, Storage::dense},
                              {1, 130, 300, 64, Storage::wide, Storage::wide},
                              {1, 9, 4304, 16, Storage::dense, Storage::dense},
                              {3, 20, 24, 17, Storage::dense, Storage::transposed, true, false},
                              {2, 33, 40, 9, Storage::transposed, Storage::dense, true, true},
                              {2, 5, 6, 8, Storage::dense, Storage::wide, false, true},
                              {1, 4, 5, 0},  // K = 0: C = epilogue(0)
                          });
}

TEST(CpuGemm, Epilogues) {
  gemm_epilogue_cases<cpu::Context, float, float>(ctx(), {1, 37, 520, 96}, 4100);
  gemm_epilogue_cases<cpu::Context, float, bfloat16>(ctx(), {2, 11, 64, 40, Storage::dense, Storage::transposed, true},
                                                      4200);
  gemm_epilogue_cases<cpu::Context, float, half>(ctx(), {1, 130, 258, 24, Storage::transposed, Storage::dense}, 4300);
}

TEST(CpuGemm, RopeAndStoreHeadsEpilogue) {
  gemm_rope_cases<cpu::Context, float, float>(ctx(), {1, 37, 72, 96}, 4400);
  gemm_rope_cases<cpu::Context, float, bfloat16>(ctx(), {3, 11, 300, 40}, 4410);
}

TEST(CpuGemm, RmsNormPrologue) {
  gemm_rmsnorm_cases<cpu::Context, float, float>(ctx(), {1, 11, 72, 1040}, 4430, true);
  gemm_rmsnorm_cases<cpu::Context, float, bfloat16>(ctx(), {3, 5, 40, 96}, 4440, false, false);
  gemm_rmsnorm_cases<cpu::Context, float, float>(ctx(), {1, 37, 24, 200}, 4450, true, true, 300.0);
  gemm_rmsnorm_cases<cpu::Context, float, float>(ctx(), {2, 7, 40, 136}, 4460, true, true, 0.0, true);  // folded
}

TEST(CpuGemm, LayerNormPrologue) {
  gemm_layernorm_cases<cpu::Context, float, float>(ctx(), {1, 11, 72, 1152}, 4470);
  gemm_layernorm_cases<cpu::Context, float, bfloat16>(ctx(), {2, 5, 40, 96, Storage::dense, Storage::transposed, true}, 4480, 500.0, true);
  gemm_layernorm_cases<cpu::Context, float, float>(ctx(), {1, 37, 24, 200}, 4490, 0.0, true);
}

TEST(CpuGemm, NormProloguesBadInputs) { gemm_rmsnorm_bad_input_cases(ctx()); }

// rope_interleave_row turns a half-split projection into the interleaved one epi::rope turns: applying
// rope() half-split to the original output equals rope() interleaved to the permuted rows' output.
TEST(CpuGemm, RopeInterleaveRowsMatchesHalfSplit) {
  constexpr index_t D = 8, rot = 6, H = 2, T = 3;
  auto x = random_tensor<float, 3>({T, H, D}, 4420, -1.0, 1.0);
  HostTensor<float, 3> perm({T, H, D});
  for (index_t t = 0; t < T; ++t)
    for (index_t i = 0; i < H * D; ++i) {
      const index_t src = rope_interleave_row(i, D, rot);
      perm(t, i / D, i % D) = x(t, src / D, src % D);
    }
  HostTensor<std::int32_t, 1> pos({T});
  for (index_t t = 0; t < T; ++t) pos(t) = static_cast<std::int32_t>(7 + 13 * t);
  rope(ctx(), x, x, pos, RopeOptions{.base = 100.f, .layout = RopeLayout::half_split, .rotary_dim = rot});
  rope(ctx(), perm, perm, pos, RopeOptions{.base = 100.f, .layout = RopeLayout::interleaved, .rotary_dim = rot});
  for (index_t t = 0; t < T; ++t)
    for (index_t i = 0; i < H * D; ++i) {
      const index_t src = rope_interleave_row(i, D, rot);
      EXPECT_EQ(perm(t, i / D, i % D), x(t, src / D, src % D)) << "token " << t << " row " << i;
    }
}

TEST(CpuGemm, BadInputsNameTheShapes) { gemm_bad_input_cases(ctx()); }

}  // namespace
}  // namespace fusekit::test

namespace fusekit::test {
namespace {

// cpu::packed_gemm (the CPU convolution's GEMM on weights packed once): every row-tail and partial-panel
// case for this build's SIMD width, strided A and C, against float64; C's columns past N stay untouched.
TEST(CpuPackedGemm, OddSizesAgainstFloat64) {
  constexpr index_t nr = cpu::packed::nr, mr = cpu::packed::mr;
  std::uint64_t salt = 9900;
  for (index_t m : {index_t{1}, mr - 1, mr, mr + 1, 3 * mr + 2})
    for (index_t n : {index_t{1}, nr - 1, nr, nr + 1, 2 * nr + 5})
      for (index_t k : {1, 2, 17, 96}) {
        SCOPED_TRACE(fmt::format("M {} N {} K {}", m, n, k));
        const index_t lda = k + 3, ldb = n + 2, ldc = n + 4;
        auto a = random_tensor<float, 2>({m, lda}, salt++, -1.0, 1.0);
        auto b = random_tensor<float, 2>({k, ldb}, salt++, -1.0, 1.0);
        std::vector<float> c(static_cast<std::size_t>(m * ldc), std::numeric_limits<float>::quiet_NaN());
        const cpu::PackedMatrix bp = cpu::pack_matrix(b.data(), k, n, ldb);
        cpu::packed_gemm(a.data(), lda, bp, c.data(), ldc, m);
        for (index_t i = 0; i < m; ++i)
          for (index_t j = 0; j < ldc; ++j) {
            const float got = c[static_cast<std::size_t>(i * ldc + j)];
            if (j >= n) {
              ASSERT_TRUE(std::isnan(got)) << "wrote C(" << i << ", " << j << ") past N";
              continue;
            }
            double want = 0;
            for (index_t q = 0; q < k; ++q) want += static_cast<double>(a(i, q)) * static_cast<double>(b(q, j));
            ASSERT_NEAR(got, want, 1e-5 * (1.0 + std::sqrt(static_cast<double>(k)))) << "C(" << i << ", " << j << ")";
          }
      }
}

}  // namespace
}  // namespace fusekit::test
