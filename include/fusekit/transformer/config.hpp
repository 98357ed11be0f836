#pragma once
// Shapes of the transformer models fusekit builds: a Gemma decoder (the Pi0 prefix model and its action
// expert) and a SigLIP vision encoder. Defaults are the Pi0 dimensions from openpi (docs/transformer.md).
#include "fusekit/core/error.hpp"
#include "fusekit/core/shape.hpp"

namespace fusekit::transformer {

struct GemmaConfig {
  index_t hidden = 2048;  // width of the residual stream
  index_t layers = 18;
  index_t heads = 8;      // query heads
  index_t kv_heads = 1;   // 1: MQA; heads: MHA; anything dividing heads: GQA
  index_t head_dim = 256;
  index_t mlp = 16384;    // GeGLU intermediate width
  float rope_theta = 10000.f;
  float eps = 1e-6f;      // RMSNorm epsilon

  index_t q_width() const { return heads * head_dim; }
  index_t kv_width() const { return kv_heads * head_dim; }
  index_t qkv_width() const { return q_width() + 2 * kv_width(); }

  void check(const char* what = "GemmaConfig") const {
    FUSEKIT_CHECK(hidden > 0 && layers >= 0 && heads > 0 && kv_heads > 0 && head_dim > 0 && mlp > 0,
                  "{}: every dimension must be positive (hidden {}, layers {}, heads {}, kv_heads {}, head_dim {}, mlp {})",
                  what, hidden, layers, heads, kv_heads, head_dim, mlp);
    FUSEKIT_CHECK(heads % kv_heads == 0, "{}: {} query heads are not a multiple of {} KV heads", what, heads, kv_heads);
    FUSEKIT_CHECK(head_dim % 2 == 0, "{}: head_dim {} must be even (RoPE rotates pairs)", what, head_dim);
    FUSEKIT_CHECK(rope_theta > 0.f && eps >= 0.f, "{}: rope_theta {} must be positive and eps {} non-negative", what,
                  rope_theta, eps);
  }

  static GemmaConfig gemma_2b() { return {}; }
  // Pi0's action expert ("gemma_300m" in openpi): same heads, so both experts share one attention.
  static GemmaConfig gemma_300m() {
    GemmaConfig c;
    c.hidden = 1024;
    c.mlp = 4096;
    return c;
  }
};

struct SiglipConfig {
  index_t hidden = 1152;
  index_t layers = 27;
  index_t heads = 16;
  index_t head_dim = 72;
  index_t mlp = 4304;  // GELU-tanh MLP width
  index_t image = 224;
  index_t patch = 14;
  index_t channels = 3;
  float eps = 1e-6f;   // LayerNorm epsilon

  index_t grid() const { return image / patch; }
  index_t patches() const { return grid() * grid(); }
  index_t patch_dim() const { return channels * patch * patch; }

  void check(const char* what = "SiglipConfig") const {
    FUSEKIT_CHECK(hidden > 0 && layers >= 0 && heads > 0 && head_dim > 0 && mlp > 0 && patch > 0 && channels > 0,
                  "{}: every dimension must be positive", what);
    FUSEKIT_CHECK(heads * head_dim == hidden, "{}: {} heads of {} do not make the width {}", what, heads, head_dim, hidden);
    FUSEKIT_CHECK(image % patch == 0, "{}: image size {} is not a multiple of the patch size {}", what, image, patch);
  }

  static SiglipConfig so400m() { return {}; }
};

}  // namespace fusekit::transformer
