// GPU backend: NormAct, softmax, global pooling, RoPE and the fused elementwise ops, the same cases as
// the CPU tests (op_cases_nn.hpp); the shapes reach every kernel of each op.
#include "gpu_backend.hpp"
#include "../op_cases_nn.hpp"

namespace fusekit::test {

TEST_F(Gpu, NormActNchwNhwcMaskedAndInPlace) {
  norm_act_cases(stream());
  norm_act_strided_case(stream());
}

TEST_F(Gpu, SoftmaxAndLogSoftmaxWithMasks) { softmax_cases(stream()); }

TEST_F(Gpu, KataGoGlobalPooling) { global_pool_cases(stream()); }

TEST_F(Gpu, RopeHalfSplitInterleavedAndKvCache) { rope_cases(stream()); }

TEST_F(Gpu, AxpbyScaleBiasAdd) { fused_elementwise_cases(stream()); }

}  // namespace fusekit::test
