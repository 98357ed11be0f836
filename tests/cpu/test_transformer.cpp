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

TEST(CpuTransformer, WeightErrorsNameTheTensor) {
  auto& ctx = test::ctx();
  const auto file = io::SafeTensors::open(test::transformer_data("gemma.safetensors"));
  transformer::GemmaConfig cfg{.hidden = 64, .layers = 2, .heads = 2, .kv_heads = 1, .head_dim = 256, .mlp = 128};
  auto wrong = cfg;
  wrong.hidden = 32;
  test::expect_error([&] { transformer::load_gemma<float>(ctx, wrong, transformer::SafeTensorsSource(file)); },
                     {"tensor 'model.layers.0.input_layernorm.weight' has shape [64], the model expects [32]"});
  wrong = cfg;
  wrong.mlp = 96;
  test::expect_error([&] { transformer::load_gemma<float>(ctx, wrong, transformer::SafeTensorsSource(file)); },
                     {"model.layers.0.mlp.gate_proj.weight", "has shape [128, 64], the model expects [96, 64]"});
  wrong = cfg;
  wrong.layers = 3;
  test::expect_error([&] { transformer::load_gemma<float>(ctx, wrong, transformer::SafeTensorsSource(file)); },
                     {"no tensor named 'model.layers.2.input_layernorm.weight'"});
  test::expect_error([&] { transformer::load_gemma<float>(ctx, cfg, transformer::SafeTensorsSource(file, "lm.")); },
                     {"no tensor named 'lm.model.layers.0"});
  wrong = cfg;
  wrong.heads = 3;
  wrong.kv_heads = 2;
  test::expect_error([&] { transformer::load_gemma<float>(ctx, wrong, transformer::SafeTensorsSource(file)); },
                     {"3 query heads are not a multiple of"});
  wrong.heads = 2;
  wrong.kv_heads = 2;
  test::expect_error([&] { transformer::load_gemma<float>(ctx, wrong, transformer::SafeTensorsSource(file)); },
                     {"self_attn.k_proj.weight", "has shape [256, 64], the model expects [512, 64]"});
}
