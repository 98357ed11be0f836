#pragma once
// A KataGo network as its model file describes it (../shared/models/katago/FORMAT.md, KataGo's
// cpp/neuralnet/desc.cpp): layers in file order with their weights as stored (conv HWIO, matmul
// [in][out]). Batch norms also carry their folded per-channel scale and bias. Built by
// katago::read_model (katago/model_reader.hpp); the network builder turns it into kernels.
#include <cstddef>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace fusekit::katago {

// The last two exist only inside fusekit (katago/fp16_scale8.hpp): f(8x)/8, for activations stored
// divided by 8. No file names them.
enum class Activation { identity, relu, mish, silu, mish_scale8, silu_scale8 };

struct ConvLayer {
  std::string name;
  int ky = 0, kx = 0, in_c = 0, out_c = 0, dil_y = 1, dil_x = 1;
  std::vector<float> w;  // [ky][kx][in_c][out_c]
};

struct BatchNormLayer {
  std::string name;
  int c = 0;
  float eps = 0.f;
  bool has_scale = false, has_bias = false;
  std::vector<float> mean, var, scale, bias;  // scale / bias empty when absent (1 / 0)
  std::vector<float> merged_scale, merged_bias;  // y = x * merged_scale + merged_bias
};

struct ActivationLayer {
  std::string name;
  Activation kind = Activation::relu;
};

struct MatMulLayer {
  std::string name;
  int in_c = 0, out_c = 0;
  std::vector<float> w;  // [in_c][out_c]: y = x w
};

struct MatBiasLayer {
  std::string name;
  int c = 0;
  std::vector<float> b;
};

// The v17 trunk tip's RMSNorm and the transformer blocks' weight-only RMSNorm.
struct RmsNormLayer {
  std::string name;
  int c = 0;
  float eps = 0.f;
  bool spatial = false;
  std::vector<float> gamma, beta;  // beta empty for the transformer blocks' norm
};

struct Block;

struct OrdinaryBlock {
  std::string name;
  BatchNormLayer pre_bn;
  ActivationLayer pre_act;
  ConvLayer conv1;
  BatchNormLayer mid_bn;
  ActivationLayer mid_act;
  ConvLayer conv2;
};

struct GlobalPoolBlock {
  std::string name;
  BatchNormLayer pre_bn;
  ActivationLayer pre_act;
  ConvLayer regular_conv, gpool_conv;
  BatchNormLayer gpool_bn;
  ActivationLayer gpool_act;
  MatMulLayer gpool_to_bias;  // 3 gpoolC -> regularC
  BatchNormLayer mid_bn;
  ActivationLayer mid_act;
  ConvLayer final_conv;
};

struct NestedBottleneckBlock {
  std::string name;
  BatchNormLayer pre_bn;
  ActivationLayer pre_act;
  ConvLayer pre_conv;  // 1x1 trunk -> mid
  std::vector<Block> inner;
  BatchNormLayer post_bn;
  ActivationLayer post_act;
  ConvLayer post_conv;  // 1x1 mid -> trunk
};

struct AttentionBlock {
  std::string name;
  int heads = 0, kv_heads = 0, q_head_dim = 0, v_head_dim = 0;
  bool use_rope = false, learnable_rope = false;
  RmsNormLayer norm;
  MatMulLayer q, k, v, out;
  std::string rope_name;
  float rope_theta = 0.f;          // fixed RoPE
  int rope_pairs = 0;              // learnable RoPE: [kv_heads][pairs][2]
  std::vector<float> rope_table;
};

struct FfnBlock {
  std::string name;
  int c = 0, ffn_c = 0;
  bool swiglu = false;
  RmsNormLayer norm;
  MatMulLayer w1, gate, w2;  // gate empty without SwiGLU
};

struct Block {
  std::variant<OrdinaryBlock, GlobalPoolBlock, NestedBottleneckBlock, AttentionBlock, FfnBlock> kind;
};

struct MetaEncoder {
  std::string name;
  int num_inputs = 0;
  MatMulLayer mul1;
  MatBiasLayer bias1;
  ActivationLayer act1;
  MatMulLayer mul2;
  MatBiasLayer bias2;
  ActivationLayer act2;
  MatMulLayer mul3;
};

struct Trunk {
  std::string name;
  int num_blocks = 0, trunk_c = 0, mid_c = 0, regular_c = 0, dilated_c = 0, gpool_c = 0;
  int norm_kind = 0;  // 0: batch norm tip, 1: RMSNorm tip (v17)
  ConvLayer initial_conv;
  MatMulLayer initial_matmul;  // global inputs -> trunk channels
  bool has_meta = false;
  MetaEncoder meta;
  std::vector<Block> blocks;
  BatchNormLayer tip_bn;  // norm_kind 0
  RmsNormLayer tip_rms;   // norm_kind 1
  ActivationLayer tip_act;
};

struct PolicyHead {
  std::string name;
  int out_channels = 1;  // P
  ConvLayer p1_conv, g1_conv;
  BatchNormLayer g1_bn;
  ActivationLayer g1_act;
  MatMulLayer gpool_to_bias;
  BatchNormLayer p1_bn;
  ActivationLayer p1_act;
  ConvLayer p2_conv;
  MatMulLayer gpool_to_pass;
  bool pass_mlp = false;  // v15+: gpool_to_pass -> bias -> act -> pass2
  MatBiasLayer pass_bias;
  ActivationLayer pass_act;
  MatMulLayer pass2;
};

struct ValueHead {
  std::string name;
  ConvLayer v1_conv;
  BatchNormLayer v1_bn;
  ActivationLayer v1_act;
  MatMulLayer v2_mul;
  MatBiasLayer v2_bias;
  ActivationLayer v2_act;
  MatMulLayer v3_mul;  // -> 3 value logits
  MatBiasLayer v3_bias;
  MatMulLayer sv3_mul;  // -> S score-value outputs
  MatBiasLayer sv3_bias;
  ConvLayer ownership_conv;
};

// Output post-processing multipliers (file header from v13; KataGo's defaults before).
struct PostProcess {
  float td_score = 20, score_mean = 20, score_stdev = 20, lead = 20, var_time = 40, shortterm_value_error = 0.25f,
        shortterm_score_error = 30;
};

struct ModelDesc {
  std::string name;
  int version = 0, num_spatial_inputs = 0, num_global_inputs = 0;
  PostProcess post;
  int meta_encoder_version = 0;
  bool prefer_pass_alive_under_suicide = false;
  Trunk trunk;
  PolicyHead policy;
  ValueHead value;
  std::size_t float_count = 0;      // every number the file stores as weights
  std::size_t parameter_count = 0;  // KataGo's count: the same without batch-norm means and variances

  int policy_channels() const { return policy.out_channels; }
  int score_value_channels() const { return value.sv3_mul.out_c; }
};

}  // namespace fusekit::katago
