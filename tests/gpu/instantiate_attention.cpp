// fusekit_gpu_instantiate, part 3: attention and the transformer-side ops (see instantiate_ops.cpp).
#include <fusekit/fusekit.hpp>

#include "instantiate.hpp"

namespace fusekit {
namespace {

template <class T>
void attention_all(hip::Stream& s) {
  DeviceTensor<T, 4> q({2, 3, 4, 64}, s), k({2, 5, 2, 64}, s), o({2, 3, 4, 64}, s);
  DeviceTensor<std::int32_t, 1> lens({2}, s);
  DeviceTensor<std::int32_t, 2> ends({2, 3}, s);
  fill(s, lens, 5);
  fill(s, ends, 4);
  attention(s, o, q, k, k);
  attention(s, o, q, k, k, {lens.view().as_const(), ends.view().as_const()}, {.causal = true, .kv_splits = 2});
  attention(s, o, q, k, k, {.path = AttentionPath::simt});
  DeviceTensor<T, 3> q3({6, 4, 64}, s), k3({6, 2, 64}, s), o3({6, 4, 64}, s);
  DeviceTensor<std::int32_t, 1> cu({3}, s);
  fill(s, cu, 0);
  attention_varlen(s, o3, q3, k3, k3, {cu.view().as_const(), cu.view().as_const(), 3, 3, {}});
}

// The transformer-side ops: embedding lookup, adaptive RMSNorm, the gated residual epilogue.
template <class T>
void transformer_ops_all(hip::Stream& s) {
  DeviceTensor<T, 2> table({8, 16}, s), out({3, 16}, s), w({16, 16}, s), mod({2, 48}, s);
  DeviceTensor<std::int32_t, 1> ids({3}, s);
  DeviceTensor<T, 3> x({2, 3, 16}, s), y({2, 3, 16}, s);
  fill(s, table, 0.5);
  fill(s, ids, 1);
  fill(s, x, 0.25);
  fill(s, w, 0.125);
  fill(s, mod, 0.1);
  embedding(s, out, table, ids, 2.0);
  const auto mv = mod.view();
  adaptive_rmsnorm(s, x, x, mv.slice(1, 0, 16), mv.slice(1, 16, 32));
  fill(s, y, 1.0);
  gemm(s, y, x.view().as_const(), transposed(w.view()), make_epilogue(epi::gated_residual(y, mv.slice(1, 32, 48))));
}

}  // namespace

void instantiate_attention_transformer(hip::Stream& s) {
  transformer_ops_all<float>(s);
  transformer_ops_all<bfloat16>(s);
  attention_all<float>(s);
  attention_all<half>(s);
  attention_all<bfloat16>(s);
}

}  // namespace fusekit
