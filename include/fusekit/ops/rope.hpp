#pragma once
// Rotary position embedding (semantics in ops/rope_params.hpp). Tensors are [tokens, heads, head_dim]
// views with any strides; positions is [tokens] int32 or int64 (one position per token).
//   rope(ctx, out, x, positions, opts)          out = rope(x); out may be x (in place)
//   rope_qk(ctx, q, k, positions, opts)         q and k in place, one launch
//   rope_qkv_to_cache(ctx, q, k, v, positions, k_cache, v_cache, opts)
//       one launch: q in place; rope(k) written to k_cache, v copied to v_cache, where the caches are the
//       [tokens, kv_heads, head_dim] views of the slots these tokens fill (for example
//       cache.slice(0, start, start + tokens)).
#include "fusekit/cpu/rope.hpp"
#include "fusekit/ops/elementwise.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/kernels/rope.hpp"
#endif

namespace fusekit {

namespace detail {
template <class T, class S>
RopeTensor<T> rope_tensor(const char* name, const char* which, const TensorView<T, 3, S>& dst,
                          const TensorView<const T, 3, S>& src, bool rotate) {
  FUSEKIT_CHECK(dst.shape() == src.shape(), "{}: {} is written to a view of shape {} but has shape {} ({})", name, which,
                dst.shape(), src.shape(), dtype_of<T>);
  return {dst.data(), src.data(), dst.strides(), src.strides(), src.size(1), rotate};
}

template <class Ctx, class T, class PV, std::size_t K>
void rope_impl(const char* name, Ctx& ctx, const std::array<RopeTensor<T>, K>& ts, const PV& positions, index_t tokens,
               index_t head_dim, const RopeOptions& opt) {
  using P = typename PV::value_type;
  static_assert(FloatStorage<T>, "rope: supported dtypes are f32, f16 and bf16");
  static_assert(PV::rank == 1 && (std::is_same_v<P, std::int32_t> || std::is_same_v<P, std::int64_t>),
                "rope: positions must be a rank-1 int32 or int64 view");
  require_space<Ctx, PV>();
  const index_t rot = opt.rotary_dim ? opt.rotary_dim : head_dim;
  FUSEKIT_CHECK(positions.size(0) == tokens, "{}: positions has shape {} but the tensors have {} tokens", name,
                positions.shape(), tokens);
  FUSEKIT_CHECK(head_dim % 2 == 0 && rot % 2 == 0 && rot > 0 && rot <= head_dim && rot <= 2 * rope_max_pairs,
                "{}: head_dim {} and rotary_dim {} must be even, with 0 < rotary_dim <= head_dim and rotary_dim <= {}",
                name, head_dim, rot, 2 * rope_max_pairs);
  FUSEKIT_CHECK(opt.base > 0.f, "{}: base must be positive (got {})", name, opt.base);
  RopeParams<T, P> p{};
  for (std::size_t i = 0; i < K; ++i) p.t[i] = ts[i];
  p.count = static_cast<int>(K);
  p.positions = positions.data();
  p.position_stride = positions.stride(0);
  p.tokens = tokens;
  p.head_dim = head_dim;
  p.rotary_dim = rot;
  p.layout = opt.layout;
  for (index_t j = 0; j < rot / 2; ++j) p.inv_freq[j] = rope_inv_freq(opt.base, j, rot);
  if (tokens == 0 || head_dim == 0) return;
  OpImpl<op::Rope, backend_of<Ctx>>::run(ctx, p);
}

template <class Ctx, class... V>
void rope_spaces() {
  (require_space<Ctx, V>(), ...);
}
}  // namespace detail

template <Context Ctx, TensorLike Out, TensorLike X, TensorLike Pos>
void rope(Ctx& ctx, Out&& out, const X& x, const Pos& positions, const RopeOptions& opt = {}) {
  const auto o = out.view();
  const auto xv = x.view().as_const();
  static_assert(decltype(o)::rank == 3 && decltype(xv)::rank == 3, "rope: tensors are rank-3 [tokens, heads, head_dim]");
  detail::rope_spaces<Ctx, decltype(o), decltype(xv)>();
  const std::array ts{detail::rope_tensor("rope", "x", o, xv, true)};
  detail::rope_impl("rope", ctx, ts, positions.view().as_const(), xv.size(0), xv.size(2), opt);
}

template <Context Ctx, TensorLike Q, TensorLike K, TensorLike Pos>
void rope_qk(Ctx& ctx, Q&& q, K&& k, const Pos& positions, const RopeOptions& opt = {}) {
  const auto qv = q.view();
  const auto kv = k.view();
  static_assert(decltype(qv)::rank == 3 && decltype(kv)::rank == 3, "rope_qk: q and k are rank-3 [tokens, heads, head_dim]");
  detail::rope_spaces<Ctx, decltype(qv), decltype(kv)>();
  FUSEKIT_CHECK(qv.size(0) == kv.size(0) && qv.size(2) == kv.size(2),
                "rope_qk: q {} and k {} must agree in tokens and head_dim", qv.shape(), kv.shape());
  const std::array ts{detail::rope_tensor("rope_qk", "q", qv, qv.as_const(), true),
                      detail::rope_tensor("rope_qk", "k", kv, kv.as_const(), true)};
  detail::rope_impl("rope_qk", ctx, ts, positions.view().as_const(), qv.size(0), qv.size(2), opt);
}

template <Context Ctx, TensorLike Q, TensorLike K, TensorLike V, TensorLike Pos, TensorLike KC, TensorLike VC>
void rope_qkv_to_cache(Ctx& ctx, Q&& q, const K& k, const V& v, const Pos& positions, KC&& k_cache, VC&& v_cache,
                       const RopeOptions& opt = {}) {
  const auto qv = q.view();
  const auto kv = k.view().as_const();
  const auto vv = v.view().as_const();
  const auto kc = k_cache.view();
  const auto vc = v_cache.view();
  static_assert(decltype(qv)::rank == 3 && decltype(kv)::rank == 3 && decltype(vv)::rank == 3 &&
                    decltype(kc)::rank == 3 && decltype(vc)::rank == 3,
                "rope_qkv_to_cache: tensors are rank-3 [tokens, heads, head_dim]");
  detail::rope_spaces<Ctx, decltype(qv), decltype(kv), decltype(vv), decltype(kc), decltype(vc)>();
  FUSEKIT_CHECK(qv.size(0) == kv.size(0) && qv.size(0) == vv.size(0) && qv.size(2) == kv.size(2) &&
                    qv.size(2) == vv.size(2),
                "rope_qkv_to_cache: q {}, k {} and v {} must agree in tokens and head_dim", qv.shape(), kv.shape(),
                vv.shape());
  const std::array ts{detail::rope_tensor("rope_qkv_to_cache", "q", qv, qv.as_const(), true),
                      detail::rope_tensor("rope_qkv_to_cache", "k (into k_cache)", kc, kv, true),
                      detail::rope_tensor("rope_qkv_to_cache", "v (into v_cache)", vc, vv, false)};
  detail::rope_impl("rope_qkv_to_cache", ctx, ts, positions.view().as_const(), qv.size(0), qv.size(2), opt);
}

}  // namespace fusekit
