// Transformer layers on the GPU, bf16 (matrix cores) and f32 (portable kernels): HF Gemma and SigLIP
// fixtures, joint two-expert attention with the Pi0 block mask against float64, cached passes, decode
// equals prefill (cases in transformer_cases.hpp).
#include "../transformer_cases.hpp"
#include "gpu_backend.hpp"

using namespace fusekit;

using GpuTransformer = test::Gpu;

TEST_F(GpuTransformer, GemmaMatchesHuggingFaceBf16) { test::hf_gemma_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, GemmaMatchesHuggingFaceF32) { test::hf_gemma_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, SiglipMatchesHuggingFaceBf16) { test::hf_siglip_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, SiglipMatchesHuggingFaceF32) { test::hf_siglip_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, JointAttentionPi0BlockMaskBf16) { test::joint_attention_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, JointAttentionPi0BlockMaskF32) { test::joint_attention_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, DecodeEqualsPrefillBf16) { test::decode_equals_prefill_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, DecodeEqualsPrefillF32) { test::decode_equals_prefill_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, Pi0PolicyMatchesFloat64LoopBf16) { test::pi0_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, Pi0PolicyMatchesFloat64LoopF32) { test::pi0_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, EmbeddingLookupBf16) { test::embedding_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, EmbeddingLookupF32) { test::embedding_case<hip::Stream, float>(stream()); }
TEST_F(GpuTransformer, AdaptiveRmsNormAndGatedResidualBf16) { test::adaptive_norm_case<hip::Stream, bfloat16>(stream()); }
TEST_F(GpuTransformer, AdaptiveRmsNormAndGatedResidualF32) { test::adaptive_norm_case<hip::Stream, float>(stream()); }
