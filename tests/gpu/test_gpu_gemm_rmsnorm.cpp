// GPU gemm_rmsnorm (and rmsnorm without a weight, its unfused form's first pass) and gemm_layernorm: the small_m kernel's fused prologue (M <= 16, f16/bf16; both block shapes; unsplit, split in a cluster
// and through the workspace, one and two n8 halves of x rows; a weight of x's dtype or fp32, or folded
// into W) and the normalise-then-multiply path everywhere else (fp32, M > 16, forced mma / simt), against
// the double definition.
#include "gpu_backend.hpp"
#include "../gemm_cases.hpp"
#include "../op_cases.hpp"

namespace fusekit::test {

TEST_F(Gpu, GemmRmsNormPrologue) {
  using S = Storage;
  const auto small = GemmPath::small_m;
  if (OpImpl<op::Gemm, HipBackend>::mma_device_blocker<bfloat16>(stream()).empty()) {
    gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 2560, 1024}, 6000, true);  // Gemma decode QKV
    gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 300, 1040, S::dense, S::transposed, false, false, -1, small}, 6010, true, false);
    gemm_rmsnorm_cases<hip::Stream, bfloat16, half>(stream(), {1, 16, 136, 4104, S::dense, S::transposed, false, false, 1, small, 3}, 6020, false);
    gemm_rmsnorm_cases<hip::Stream, half, float>(stream(), {2, 5, 72, 2056, S::dense, S::transposed, true, false, -1, small, 12}, 6030, true);
    gemm_rmsnorm_cases<hip::Stream, half, half>(stream(), {1, 1, 264, 520, S::dense, S::transposed, false, false, -1, small, 2}, 6040, false, true, 40.0);
    gemm_rmsnorm_cases<hip::Stream, bfloat16, float>(stream(), {1, 9, 40, 24}, 6050, true, false, 300.0);
    gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16, float>(stream(), {1, 11, 1024, 2048}, 6060, true);  // fp32 weight
    gemm_rmsnorm_cases<hip::Stream, half, half, float>(stream(), {1, 13, 96, 1048, S::dense, S::transposed, false, false, 1, small, 5}, 6070, false);
    // the weight folded into W (what transformer layers use): statistics and row scale only
    gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 2560, 1024}, 6080, true, false, 0.0, true);
    gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 1040, 4096, S::dense, S::transposed, false, false, -1, small, 4}, 6090, true, true, 0.0, true);
    gemm_rmsnorm_cases<hip::Stream, half, float>(stream(), {2, 16, 72, 2056, S::dense, S::transposed, true, false, 1, small, 12}, 6095, false, true, 30.0, true);
  }
  // normalised first, then multiplied
  gemm_rmsnorm_cases<hip::Stream, float, float>(stream(), {1, 11, 200, 1040}, 6100, true);
  gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 37, 264, 520}, 6110, true);
  gemm_rmsnorm_cases<hip::Stream, half, float>(stream(), {3, 20, 136, 96, S::dense, S::transposed, true, false, -1, GemmPath::mma}, 6120, false);
  gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 11, 72, 200, S::dense, S::transposed, false, false, -1, GemmPath::simt}, 6130, true, true, 300.0);
  gemm_rmsnorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 37, 264, 520}, 6140, true, true, 0.0, true);  // folded
  gemm_rmsnorm_cases<hip::Stream, float, float>(stream(), {1, 5, 40, 96}, 6150, false, true, 0.0, true);
  gemm_rmsnorm_bad_input_cases(stream());
}

TEST_F(Gpu, GemmLayerNormPrologue) {
  using S = Storage;
  gemm_layernorm_cases<hip::Stream, bfloat16, bfloat16>(stream(), {1, 768, 264, 1152}, 6200);  // SigLIP's rows
  gemm_layernorm_cases<hip::Stream, half, float>(stream(), {2, 11, 136, 520, S::dense, S::transposed, true}, 6210, 300.0, true);
  gemm_layernorm_cases<hip::Stream, float, float>(stream(), {1, 37, 72, 200}, 6220, 0.0, true);
}

// The norm the unfused prologue runs when the weight is folded into W.
TEST_F(Gpu, RmsNormWithoutWeight) {
  // every kernel: warp rows (72), a block (1024 bf16, 2048 f32), 8 vectors per thread (16384), generic (130, strided)
  for (KernelPath path : {KernelPath::automatic, KernelPath::generic})
    for (NormCase k : {NormCase{3, 72, false, false}, NormCase{11, 1024, false, false}, NormCase{788, 2048, false, false},
                       NormCase{5, 16384, false, false}, NormCase{37, 130, false, false}}) {
      k.path = path;
      k.no_weight = true;
      for (bool strided : {false, true}) {
        k.strided = strided;
        norm_case<hip::Stream, float, float>(stream(), k, 150);
        norm_case<hip::Stream, bfloat16, bfloat16>(stream(), k, 350);
        norm_case<hip::Stream, half, half>(stream(), k, 250);
      }
    }
}

}  // namespace fusekit::test
