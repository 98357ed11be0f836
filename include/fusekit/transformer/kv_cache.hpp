#pragma once
// Per-layer keys and values of a decoder, written by prefill and read by later steps without copies.
// Layout per layer: [batch, capacity, kv_heads, head_dim], token-major like the projections, so a step
// that adds n tokens at slot s writes the slice [s, s + n) (RoPE'd keys and values straight from the
// QKV projection's epilogue: epi::rope, epi::store_heads) and attends to [0, s + n). Gemma's keys are
// stored with each head's dims in the interleaved RoPE order (transformer/gemma.hpp). Which keys a query row sees
// is the attention mask's business (ops/attention.hpp): causal, key padding, or a per-row key end (Pi0).
#include "fusekit/core/tensor.hpp"

namespace fusekit::transformer {

template <class T, class Space>
class KVCache {
 public:
  KVCache() = default;
  template <class Ctx>
  KVCache(Ctx& ctx, index_t layers, index_t batch, index_t capacity, index_t kv_heads, index_t head_dim)
      : k_(Shape<5>{layers, batch, capacity, kv_heads, head_dim}, ctx),
        v_(Shape<5>{layers, batch, capacity, kv_heads, head_dim}, ctx) {}

  index_t layers() const { return k_.size(0); }
  index_t batch() const { return k_.size(1); }
  index_t capacity() const { return k_.size(2); }
  index_t kv_heads() const { return k_.size(3); }
  index_t head_dim() const { return k_.size(4); }

  TensorView<T, 4, Space> k(index_t layer) { return layer_view(k_, layer); }
  TensorView<T, 4, Space> v(index_t layer) { return layer_view(v_, layer); }
  TensorView<const T, 4, Space> k(index_t layer) const { return const_cast<KVCache*>(this)->k(layer); }
  TensorView<const T, 4, Space> v(index_t layer) const { return const_cast<KVCache*>(this)->v(layer); }

 private:
  TensorView<T, 4, Space> layer_view(Tensor<T, 5, Space>& t, index_t layer) {
    FUSEKIT_CHECK(layer >= 0 && layer < layers(), "KVCache: layer {} outside the cache's {} layers", layer, layers());
    const index_t per = batch() * capacity() * kv_heads() * head_dim();
    return TensorView<T, 4, Space>(t.data() + layer * per, Shape<4>{batch(), capacity(), kv_heads(), head_dim()});
  }
  Tensor<T, 5, Space> k_, v_;
};

}  // namespace fusekit::transformer
