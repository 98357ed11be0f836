// Transformer layers on the CPU (fp32): HF Gemma and SigLIP fixtures, joint two-expert attention with
// the Pi0 block mask against float64, cached passes, decode equals prefill (cases in transformer_cases.hpp).
#include "../transformer_cases.hpp"
#include "cpu_context.hpp"

using namespace fusekit;

TEST(CpuTransformer, GemmaMatchesHuggingFace) { test::hf_gemma_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, SiglipMatchesHuggingFace) { test::hf_siglip_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, JointAttentionPi0BlockMask) { test::joint_attention_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, DecodeEqualsPrefill) { test::decode_equals_prefill_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, Pi0PolicyMatchesFloat64Loop) { test::pi0_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, EmbeddingLookup) { test::embedding_case<cpu::Context, float>(test::ctx()); }
TEST(CpuTransformer, EmbeddingLookupBf16) { test::embedding_case<cpu::Context, bfloat16>(test::ctx()); }
TEST(CpuTransformer, AdaptiveRmsNormAndGatedResidual) { test::adaptive_norm_case<cpu::Context, float>(test::ctx()); }
