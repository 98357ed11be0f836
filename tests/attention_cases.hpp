#pragma once
// Attention cases written once for every backend: fresh random q, k, v, outputs poisoned with NaN, the
// float64 reference (reference/attention.hpp: explicit softmax(q k^T) v with the mask spelled out).
#include <algorithm>
#include <random>
#include <vector>

#include "op_cases.hpp"
#include "fusekit/ops/attention.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/reference/attention.hpp"

namespace fusekit::test {

enum class AttnMask { none, causal, key_padding, causal_padding, block };  // block: the Pi0 per-row kv_end

struct AttnShape {
  index_t batch, q_len, kv_len, q_heads, kv_heads, dim;
  AttnMask mask;
};

// [B, S, H * D] -> [B, S, H, D] and [T, H, D] -> [1, T, H, D], as views.
template <class V>
auto split_heads(const V& v, index_t heads, index_t dim) {
  using W = TensorView<typename V::element_type, 4, typename V::space>;
  return W(v.data(), {v.size(0), v.size(1), heads, dim}, {v.stride(0), v.stride(1), dim * v.stride(2), v.stride(2)});
}
template <class V>
auto with_batch(const V& v) {
  using W = TensorView<typename V::element_type, 4, typename V::space>;
  return W(v.data(), {1, v.size(0), v.size(1), v.size(2)}, {v.size(0) * v.stride(0), v.stride(0), v.stride(1), v.stride(2)});
}

inline std::string describe(const AttnShape& s) {
  static const char* names[] = {"none", "causal", "key_padding", "causal+padding", "block"};
  return fmt::format("B={} Sq={} Skv={} H={}/{} D={} mask={}", s.batch, s.q_len, s.kv_len, s.q_heads, s.kv_heads, s.dim,
                     names[static_cast<int>(s.mask)]);
}

// Output tolerance: the result is a convex combination of v (|v| <= 2) computed in fp32 from T inputs,
// with the probabilities rounded to T for the P V product on matrix cores.
template <class T>
reference::Tolerance attention_tolerance() {
  if constexpr (std::is_same_v<T, float>) return {1e-5, 2e-5};
  else return {2.0 * unit_roundoff<T>(), 4.0 * unit_roundoff<T>()};
}

struct AttnMaskData {
  std::vector<index_t> kv_lens, kv_end;  // for the reference; empty: none
  HostTensor<std::int32_t, 1> lens;
  HostTensor<std::int32_t, 2> ends;
};

// Key padding: entry b keeps a random length, entry 0 all keys, and (for several entries) one entry none,
// which makes its rows fully masked. Block mask: Pi0's prefix-LM shape, row 0 sees the first
// kv_len - q_len + 1 keys, later rows all; plus one fully masked row when there are several.
inline AttnMaskData make_masks(const AttnShape& s, std::uint64_t salt) {
  AttnMaskData m;
  std::mt19937_64 rng(base_seed() + salt);
  const bool padding = s.mask == AttnMask::key_padding || s.mask == AttnMask::causal_padding;
  if (padding) {
    m.lens = HostTensor<std::int32_t, 1>({s.batch});
    for (index_t b = 0; b < s.batch; ++b) {
      index_t len = b == 0 ? s.kv_len : static_cast<index_t>(rng() % static_cast<std::uint64_t>(s.kv_len + 1));
      if (b == 2) len = 0;
      m.lens(b) = static_cast<std::int32_t>(len);
      m.kv_lens.push_back(len);
    }
  }
  if (s.mask == AttnMask::block) {
    m.ends = HostTensor<std::int32_t, 2>({s.batch, s.q_len});
    for (index_t b = 0; b < s.batch; ++b)
      for (index_t i = 0; i < s.q_len; ++i) {
        index_t e = i == 0 ? s.kv_len - s.q_len + 1 : s.kv_len;
        if (i == 2) e = 0;  // a fully masked row
        m.ends(b, i) = static_cast<std::int32_t>(e);
        m.kv_end.push_back(e);
      }
  }
  return m;
}

// One dense call. fused: q, k, v are column ranges of one [B, S, (Hq + 2 Hkv) D] projection (when
// Sq == Skv) and out is a heads-major [B, Hq, Sq, D] buffer seen through a permuted view.
template <class Ctx, class T>
void attention_case(Ctx& ctx, const AttnShape& s, std::uint64_t salt, bool fused, AttentionOptions opt = {}) {
  using B = Backend<Ctx>;
  const index_t Hq = s.q_heads, Hkv = s.kv_heads, D = s.dim;
  const bool causal = s.mask == AttnMask::causal || s.mask == AttnMask::causal_padding;
  opt.causal = causal;
  const auto what = fmt::format("attention {} {} fused={} splits={} path={} tiles={} combine={} groups={}", describe(s),
                                dtype_of<T>, fused, opt.kv_splits, static_cast<int>(opt.path), opt.tiles,
                                static_cast<int>(opt.combine), opt.combine_groups);
  SCOPED_TRACE(what);
  HostTensor<T, 4> q, k, v;
  HostTensor<T, 3> qkv;
  if (fused) {
    qkv = random_tensor<T, 3>({s.batch, s.q_len, (Hq + 2 * Hkv) * D}, salt);
    q = dense_copy(split_heads(qkv.view().slice(2, 0, Hq * D), Hq, D));
    k = dense_copy(split_heads(qkv.view().slice(2, Hq * D, (Hq + Hkv) * D), Hkv, D));
    v = dense_copy(split_heads(qkv.view().slice(2, (Hq + Hkv) * D, (Hq + 2 * Hkv) * D), Hkv, D));
  } else {
    q = random_tensor<T, 4>({s.batch, s.q_len, Hq, D}, salt);
    k = random_tensor<T, 4>({s.batch, s.kv_len, Hkv, D}, salt + 1);
    v = random_tensor<T, 4>({s.batch, s.kv_len, Hkv, D}, salt + 2);
  }
  const auto masks = make_masks(s, salt + 3);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  const auto expect = reference::attention<T>(q.view(), k.view(), v.view(), scale, causal, masks.kv_lens, masks.kv_end);

  AttentionMasks<typename Ctx::space> dm;
  std::optional<decltype(B::upload(ctx, masks.lens))> dlens;
  std::optional<decltype(B::upload(ctx, masks.ends))> dends;
  if (!masks.kv_lens.empty()) dm.kv_lens = dlens.emplace(B::upload(ctx, masks.lens)).view().as_const();
  if (!masks.kv_end.empty()) dm.kv_end = dends.emplace(B::upload(ctx, masks.ends)).view().as_const();

  if (fused) {
    auto dqkv = B::upload(ctx, qkv);
    auto dv = dqkv.view().as_const();
    auto dout = B::template poisoned<T, 4>(ctx, {s.batch, Hq, s.q_len, D});
    attention(ctx, dout.view().permute({0, 2, 1, 3}), split_heads(dv.slice(2, 0, Hq * D), Hq, D),
              split_heads(dv.slice(2, Hq * D, (Hq + Hkv) * D), Hkv, D),
              split_heads(dv.slice(2, (Hq + Hkv) * D, (Hq + 2 * Hkv) * D), Hkv, D), dm, opt);
    EXPECT_TRUE(matches(B::download(ctx, dout).view().permute({0, 2, 1, 3}), expect.view(), attention_tolerance<T>(), what));
  } else {
    auto dq = B::upload(ctx, q);
    auto dk = B::upload(ctx, k);
    auto dvv = B::upload(ctx, v);
    auto dout = B::template poisoned<T, 4>(ctx, q.shape());
    attention(ctx, dout, dq, dk, dvv, dm, opt);
    EXPECT_TRUE(matches(B::download(ctx, dout).view(), expect.view(), attention_tolerance<T>(), what));
  }
}

// Several sequences of different lengths in one varlen call, each compared with its own dense reference.
template <class Ctx, class T>
void attention_varlen_case(Ctx& ctx, const std::vector<std::pair<index_t, index_t>>& lens, index_t Hq, index_t Hkv,
                           index_t D, bool causal, std::uint64_t salt, AttentionOptions opt = {}) {
  using B = Backend<Ctx>;
  opt.causal = causal;
  const auto what = fmt::format("attention_varlen {} sequences H={}/{} D={} causal={} {}", lens.size(), Hq, Hkv, D,
                                causal, dtype_of<T>);
  SCOPED_TRACE(what);
  const index_t n = static_cast<index_t>(lens.size());
  HostTensor<std::int32_t, 1> cu_q({n + 1}), cu_k({n + 1});
  cu_q(0) = cu_k(0) = 0;
  index_t max_q = 0, max_k = 0;
  for (index_t b = 0; b < n; ++b) {
    cu_q(b + 1) = cu_q(b) + static_cast<std::int32_t>(lens[b].first);
    cu_k(b + 1) = cu_k(b) + static_cast<std::int32_t>(lens[b].second);
    max_q = std::max(max_q, lens[b].first);
    max_k = std::max(max_k, lens[b].second);
  }
  const auto q = random_tensor<T, 3>({cu_q(n), Hq, D}, salt);
  const auto k = random_tensor<T, 3>({cu_k(n), Hkv, D}, salt + 1);
  const auto v = random_tensor<T, 3>({cu_k(n), Hkv, D}, salt + 2);
  auto dq = B::upload(ctx, q);
  auto dk = B::upload(ctx, k);
  auto dv = B::upload(ctx, v);
  auto dcq = B::upload(ctx, cu_q);
  auto dck = B::upload(ctx, cu_k);
  auto dout = B::template poisoned<T, 3>(ctx, q.shape());
  attention_varlen(ctx, dout, dq, dk, dv, VarlenBatch<typename Ctx::space>{dcq.view().as_const(), dck.view().as_const(), max_q, max_k, {}}, opt);
  const auto out = B::download(ctx, dout);
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  for (index_t b = 0; b < n; ++b) {
    auto as4 = [](const auto& v3) { return with_batch(v3); };
    const auto qs = dense_copy(q.view().slice(0, cu_q(b), cu_q(b + 1)));
    const auto ks = dense_copy(k.view().slice(0, cu_k(b), cu_k(b + 1)));
    const auto vs = dense_copy(v.view().slice(0, cu_k(b), cu_k(b + 1)));
    const auto e = reference::attention<T>(as4(qs.view().as_const()), as4(ks.view().as_const()),
                                           as4(vs.view().as_const()), scale, causal);
    EXPECT_TRUE(matches(as4(out.view().slice(0, cu_q(b), cu_q(b + 1)).as_const()), e.view(), attention_tolerance<T>(),
                        fmt::format("{} sequence {}", what, b)));
  }
}

// Decoding tokens one at a time against a growing KV cache equals one causal prefill of all of them.
// The cache is [1, capacity, Hkv, D] with unused slots poisoned; token t's k and v are copied into slot t.
template <class Ctx, class T>
void attention_decode_matches_prefill(Ctx& ctx, index_t tokens, index_t Hq, index_t Hkv, index_t D, std::uint64_t salt) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(fmt::format("decode vs prefill T={} H={}/{} D={} {}", tokens, Hq, Hkv, D, dtype_of<T>));
  const auto q = random_tensor<T, 4>({1, tokens, Hq, D}, salt);
  const auto k = random_tensor<T, 4>({1, tokens, Hkv, D}, salt + 1);
  const auto v = random_tensor<T, 4>({1, tokens, Hkv, D}, salt + 2);
  auto dq = B::upload(ctx, q);
  auto dk = B::upload(ctx, k);
  auto dv = B::upload(ctx, v);
  auto prefill = B::template poisoned<T, 4>(ctx, q.shape());
  attention(ctx, prefill, dq, dk, dv, {.causal = true});
  const auto ph = B::download(ctx, prefill);

  const index_t capacity = tokens + 5;
  auto kc = B::template poisoned<T, 4>(ctx, {1, capacity, Hkv, D});
  auto vc = B::template poisoned<T, 4>(ctx, {1, capacity, Hkv, D});
  HostTensor<std::int32_t, 1> len({1});
  auto step_out = B::template poisoned<T, 4>(ctx, {1, 1, Hq, D});
  for (index_t t = 0; t < tokens; ++t) {
    copy(ctx, kc.view().slice(1, t, t + 1), dk.view().slice(1, t, t + 1).as_const());
    copy(ctx, vc.view().slice(1, t, t + 1), dv.view().slice(1, t, t + 1).as_const());
    len(0) = static_cast<std::int32_t>(t + 1);
    auto dlen = B::upload(ctx, len);
    attention(ctx, step_out, dq.view().slice(1, t, t + 1).as_const(), kc, vc,
              AttentionMasks<typename Ctx::space>{dlen.view().as_const(), {}}, {.causal = true});
    const auto sh = B::download(ctx, step_out);
    // Same math in another order (split keys, one row per tile): equal within rounding of T.
    for (index_t h = 0; h < Hq; ++h)
      for (index_t d = 0; d < D; ++d) {
        const double a = static_cast<double>(sh(0, 0, h, d)), e = static_cast<double>(ph(0, t, h, d));
        ASSERT_NEAR(a, e, attention_tolerance<T>().atol + attention_tolerance<T>().rtol * std::abs(e))
            << "token " << t << " head " << h << " dim " << d;
      }
  }
}

template <class Ctx>
void attention_error_cases(Ctx& ctx) {
  using B = Backend<Ctx>;
  auto q = B::upload(ctx, random_tensor<float, 4>({1, 4, 6, 32}, 1));
  auto k = B::upload(ctx, random_tensor<float, 4>({1, 5, 4, 32}, 2));
  auto k2 = B::upload(ctx, random_tensor<float, 4>({1, 5, 2, 16}, 3));
  auto o = B::template poisoned<float, 4>(ctx, {1, 4, 6, 32});
  expect_error_untouched(ctx, o, [&] { attention(ctx, o, q, k, k); }, {"6 query heads", "not a multiple of 4 KV heads"});
  expect_error_untouched(ctx, o, [&] { attention(ctx, o, q, k2, k2); }, {"head_dim"});
  auto o2 = B::template poisoned<float, 4>(ctx, {1, 4, 6, 16});
  expect_error_untouched(ctx, o2, [&] { attention(ctx, o2, q, k, k); }, {"out has shape [1, 4, 6, 16]"});
  auto k3 = B::upload(ctx, random_tensor<float, 4>({1, 5, 3, 32}, 4));
  auto wide = B::upload(ctx, random_tensor<float, 4>({1, 4, 6, 64}, 7));
  const auto qs = TensorView<const float, 4, typename Ctx::space>(wide.data(), {1, 4, 6, 32}, {4 * 6 * 64, 6 * 64, 64, 2});
  auto k6 = B::upload(ctx, random_tensor<float, 4>({1, 5, 6, 32}, 6));
  expect_error_untouched(ctx, o, [&] { attention(ctx, o, qs, k6, k6); }, {"q [1, 4, 6, 32]", "contiguous head dimension"});
  expect_error_untouched(ctx, o, [&] { attention(ctx, o, q, k3.view().permute({0, 1, 3, 2}), k3); }, {"k has shape"});
  HostTensor<std::int32_t, 1> lens({2});
  lens(0) = lens(1) = 1;
  auto dl = B::upload(ctx, lens);
  auto q6 = B::upload(ctx, random_tensor<float, 4>({1, 4, 6, 32}, 5));
  expect_error_untouched(ctx, o, [&] { attention(ctx, o, q6, k6, k6, AttentionMasks<typename Ctx::space>{dl.view().as_const(), {}}); }, {"kv_lens has shape [2]", "batch is 1"});
}

}  // namespace fusekit::test
