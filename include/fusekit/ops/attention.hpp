#pragma once
// Attention without a q_len x kv_len matrix: FlashAttention-style prefill and flash-decoding against a KV
// cache, one entry point for both (masking rule and fully masked rows in ops/attention_params.hpp).
//
//   attention(ctx, out, q, k, v, opts)                 dense batch: q, out [B, Sq, Hq, D], k, v [B, Skv, Hkv, D]
//   attention(ctx, out, q, k, v, masks, opts)          + key padding (masks.kv_lens [B]) and/or a per-row key
//                                                        end (masks.kv_end [B, Sq], e.g. the Pi0 block mask)
//   attention_varlen(ctx, out, q, k, v, batch, opts)   several sequences in one call: q, out [Tq, Hq, D],
//                                                        k, v [Tk, Hkv, D], sequence b = rows cu_q[b] ..
//                                                        cu_q[b + 1] (batch.cu_q, batch.cu_k: int32 [B + 1])
// Hq must be a multiple of Hkv (MHA, GQA, MQA); the query heads of one KV head are processed as one tile.
// Any strides except the head dimension's, which must be 1, so q, k and v can be column ranges of one
// fused QKV projection. out must not overlap k or v.
//
// KV cache: a cache is k, v [B, capacity, Hkv, D] (token-major, like the projections, so a step appends
// by writing the slice [len, len + n) of dim 1, e.g. with rope_qkv_to_cache, and nothing is copied).
// A decode step is attention(ctx, out, q_new, k_cache, v_cache, {lens}, {.causal = true}) with
// lens[b] = len + n: causal masking is aligned bottom-right, so new token i sees the cache and new
// tokens 0..i. Few query rows against a long cache split the keys across blocks (threads on the CPU)
// and combine the partial softmax sums.
//
// Dtypes: CPU f32, f16, bf16 (fp32 math); GPU f16 and bf16 on matrix cores (NVIDIA sm_80+, head dims up
// to 256 in multiples of 8), f32 and other head dims through the portable SIMT kernel (also AMD's path).
#include <cmath>

#include "fusekit/cpu/attention.hpp"
#include "fusekit/ops/elementwise.hpp"
#include "fusekit/ops/fill.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/attention.hpp"
#endif

namespace fusekit {

template <class Space>
struct AttentionMasks {
  TensorView<const std::int32_t, 1, Space> kv_lens;  // [B]: keys per batch entry (clamped to [0, Skv]); empty: all
  TensorView<const std::int32_t, 2, Space> kv_end;   // [B, Sq]: keys visible to each query row; empty: all
};

template <class Space>
struct VarlenBatch {
  TensorView<const std::int32_t, 1, Space> cu_q, cu_k;  // [B + 1] cumulative lengths, cu[0] = 0
  index_t max_q_len = 0, max_kv_len = 0;                // upper bounds of the lengths (sizes the launch)
  TensorView<const std::int32_t, 1, Space> kv_end;      // [Tq]: optional per-row key end; empty: all
};

namespace detail {

template <class V>
AttentionTensor<typename V::element_type> attention_tensor(const char* which, const V& t) {
  constexpr std::size_t R = V::rank;
  FUSEKIT_CHECK(t.stride(R - 1) == 1 || t.size(R - 1) <= 1,
                "attention: {} {} ({}) must have a contiguous head dimension (stride 1, got {})", which, t.shape(),
                dtype_of<typename V::value_type>, t.stride(R - 1));
  if constexpr (R == 4) return {t.data(), t.stride(0), t.stride(1), t.stride(2)};
  else return {t.data(), 0, t.stride(0), t.stride(1)};
}

template <class Ctx, class O, class Q, class K, class V>
AttentionParams<typename Q::value_type> attention_params(const char* name, const O& o, const Q& q, const K& k, const V& v,
                                                         const AttentionOptions& opt) {
  using T = typename Q::value_type;
  constexpr std::size_t R = Q::rank;
  static_assert(FloatStorage<T>, "attention: supported dtypes are f32, f16 and bf16");
  static_assert(std::is_same_v<typename K::value_type, T> && std::is_same_v<typename V::value_type, T>,
                "attention: q, k and v must have one dtype");
  static_assert(std::is_same_v<typename O::element_type, T>, "attention: out must have q's dtype and not be const");
  static_assert(O::rank == R && K::rank == R && V::rank == R, "attention: q, k, v and out must have one rank");
  require_space<Ctx, O>();
  require_space<Ctx, Q>();
  require_space<Ctx, K>();
  require_space<Ctx, V>();
  FUSEKIT_CHECK(o.shape() == q.shape(), "{}: out has shape {} but q has shape {} ({})", name, o.shape(), q.shape(),
                dtype_of<T>);
  FUSEKIT_CHECK(k.shape() == v.shape(), "{}: k has shape {} but v has shape {} ({})", name, k.shape(), v.shape(),
                dtype_of<T>);
  const index_t D = q.size(R - 1), Hq = q.size(R - 2), Hkv = k.size(R - 2);
  FUSEKIT_CHECK(k.size(R - 1) == D, "{}: q {} and k {} must have one head_dim", name, q.shape(), k.shape());
  if constexpr (R == 4)
    FUSEKIT_CHECK(k.size(0) == q.size(0), "{}: q {} and k {} must have one batch size", name, q.shape(), k.shape());
  FUSEKIT_CHECK(Hkv > 0 && Hq % Hkv == 0, "{}: {} query heads (q {}) are not a multiple of {} KV heads (k {})", name, Hq,
                q.shape(), Hkv, k.shape());
  AttentionParams<T> p;
  p.out = attention_tensor("out", o);
  p.q = attention_tensor("q", q);
  p.k = attention_tensor("k", k);
  p.v = attention_tensor("v", v);
  p.q_heads = Hq;
  p.kv_heads = Hkv;
  p.head_dim = D;
  p.scale = opt.scale != 0.f ? opt.scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(std::max<index_t>(D, 1))));
  p.causal = opt.causal;
  return p;
}

template <class Ctx, class T, class O>
void attention_run(Ctx& ctx, const AttentionParams<T>& p, const AttentionOptions& opt, const O& out, index_t key_tokens) {
  if (p.batch == 0 || p.q_len == 0 || p.q_heads == 0 || p.head_dim == 0) return;
  if (key_tokens == 0) return fill(ctx, out, 0.0);  // no keys at all: every row is fully masked
  OpImpl<op::Attention, backend_of<Ctx>>::run(ctx, p, opt);
}

}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike Q, TensorLike K, TensorLike V>
void attention(Ctx& ctx, Out&& out, const Q& q, const K& k, const V& v,
               const AttentionMasks<typename Ctx::space>& masks, const AttentionOptions& opt = {}) {
  const auto o = out.view();
  const auto qv = q.view().as_const();
  static_assert(decltype(qv)::rank == 4, "attention: dense q, k, v, out are [batch, tokens, heads, head_dim]");
  auto p = detail::attention_params<Ctx>("attention", o, qv, k.view().as_const(), v.view().as_const(), opt);
  p.batch = qv.size(0);
  p.q_len = qv.size(1);
  p.kv_len = k.view().size(1);
  if (masks.kv_lens.data()) {
    FUSEKIT_CHECK(masks.kv_lens.size(0) == p.batch, "attention: kv_lens has shape {} but the batch is {}",
                  masks.kv_lens.shape(), p.batch);
    p.kv_lens = masks.kv_lens.data();
    FUSEKIT_CHECK(masks.kv_lens.stride(0) == 1 || p.batch <= 1, "attention: kv_lens must be contiguous");
  }
  if (masks.kv_end.data()) {
    const auto b = detail::broadcast_to("attention", "kv_end", masks.kv_end, Shape<2>{p.batch, p.q_len});
    p.kv_end = b.data;
    p.kv_end_batch_stride = b.strides[0];
    p.kv_end_token_stride = b.strides[1];
  }
  detail::attention_run(ctx, p, opt, o, p.kv_len);
}

template <Context Ctx, TensorLike Out, TensorLike Q, TensorLike K, TensorLike V>
void attention(Ctx& ctx, Out&& out, const Q& q, const K& k, const V& v, const AttentionOptions& opt = {}) {
  attention(ctx, out, q, k, v, AttentionMasks<typename Ctx::space>{}, opt);
}

template <Context Ctx, TensorLike Out, TensorLike Q, TensorLike K, TensorLike V>
void attention_varlen(Ctx& ctx, Out&& out, const Q& q, const K& k, const V& v,
                      const VarlenBatch<typename Ctx::space>& batch, const AttentionOptions& opt = {}) {
  const auto o = out.view();
  const auto qv = q.view().as_const();
  static_assert(decltype(qv)::rank == 3, "attention_varlen: q, k, v, out are [tokens, heads, head_dim]");
  auto p = detail::attention_params<Ctx>("attention_varlen", o, qv, k.view().as_const(), v.view().as_const(), opt);
  FUSEKIT_CHECK(batch.cu_q.size(0) >= 1 && batch.cu_q.size(0) == batch.cu_k.size(0),
                "attention_varlen: cu_q {} and cu_k {} must both be [batch + 1]", batch.cu_q.shape(), batch.cu_k.shape());
  FUSEKIT_CHECK(batch.cu_q.stride(0) == 1 && batch.cu_k.stride(0) == 1, "attention_varlen: cu_q and cu_k must be contiguous");
  FUSEKIT_CHECK(batch.max_q_len >= 0 && batch.max_q_len <= qv.size(0) && batch.max_kv_len >= 0 &&
                    batch.max_kv_len <= k.view().size(0),
                "attention_varlen: max_q_len {} / max_kv_len {} must be within the {} query and {} key tokens",
                batch.max_q_len, batch.max_kv_len, qv.size(0), k.view().size(0));
  p.cu_q = batch.cu_q.data();
  p.cu_k = batch.cu_k.data();
  p.batch = batch.cu_q.size(0) - 1;
  p.q_len = batch.max_q_len;
  p.kv_len = batch.max_kv_len;
  if (batch.kv_end.data()) {
    FUSEKIT_CHECK(batch.kv_end.size(0) == qv.size(0), "attention_varlen: kv_end has shape {} but q has {} tokens",
                  batch.kv_end.shape(), qv.size(0));
    p.kv_end = batch.kv_end.data();
    p.kv_end_token_stride = batch.kv_end.stride(0);
  }
  detail::attention_run(ctx, p, opt, o, k.view().size(0));
}

}  // namespace fusekit
