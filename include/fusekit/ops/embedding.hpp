#pragma once
// Token embedding lookup: embedding(ctx, out, table, ids, scale)
//   out [tokens, cols] = table[ids[t], :] * scale      (Gemma scales by sqrt(hidden))
// table [vocab, cols] and out share one float dtype (f32, f16, bf16); ids int32 [tokens]; any strides.
// An id outside [0, vocab): an error on the CPU; on the GPU (ids on the device) that row becomes NaN.
#include "fusekit/cpu/embedding.hpp"
#include "fusekit/ops/elementwise.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/embedding.hpp"
#endif

namespace fusekit {

template <Context Ctx, TensorLike Out, TensorLike Table, TensorLike Ids>
void embedding(Ctx& ctx, Out&& out, const Table& table, const Ids& ids, double scale = 1.0) {
  const auto o = out.view();
  const auto tb = table.view().as_const();
  const auto iv = ids.view().as_const();
  using T = typename decltype(tb)::value_type;
  static_assert(FloatStorage<T>, "embedding: the table must be f32, f16 or bf16");
  static_assert(std::is_same_v<typename decltype(o)::element_type, T>, "embedding: out must have the table's dtype");
  static_assert(decltype(o)::rank == 2 && decltype(tb)::rank == 2 && decltype(iv)::rank == 1,
                "embedding: out [tokens, cols], table [vocab, cols], ids [tokens]");
  static_assert(std::is_same_v<typename decltype(iv)::value_type, std::int32_t>, "embedding: ids must be int32");
  detail::require_space<Ctx, decltype(o)>();
  detail::require_space<Ctx, decltype(tb)>();
  detail::require_space<Ctx, decltype(iv)>();
  FUSEKIT_CHECK(o.size(0) == iv.size(0) && o.size(1) == tb.size(1),
                "embedding: out {} must be [ids {}, table columns {}] ({})", o.shape(), iv.size(0), tb.size(1), dtype_of<T>);
  if (o.empty()) return;
  const EmbeddingParams<T> p{o.data(), o.stride(0), o.stride(1), tb.data(), tb.stride(0), tb.stride(1),
                             iv.data(), iv.stride(0), o.size(0), o.size(1), tb.size(0), static_cast<float>(scale)};
  OpImpl<op::Embedding, backend_of<Ctx>>::run(ctx, p);
}

}  // namespace fusekit
