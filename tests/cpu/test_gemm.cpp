// CPU GEMM: every storage order, batches, odd sizes and every epilogue against the float64 reference.
#include "../gemm_cases.hpp"
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

TEST(CpuGemm, BadInputsNameTheShapes) { gemm_bad_input_cases(ctx()); }

}  // namespace
}  // namespace fusekit::test
