#pragma once
// NaN propagation through the compute-bound ops, shared by the CPU and GPU tests: a NaN planted in one
// input element must reach every output that depends on it and leave alone the outputs that cannot
// depend on it (docs/reliability.md states the rules; Winograd convolutions spread a NaN over the output
// tiles whose input tile holds it, which the convolution case allows).
#include <cmath>
#include <limits>

#include "op_cases_nn.hpp"
#include "fusekit/ops/attention.hpp"
#include "fusekit/ops/conv.hpp"
#include "fusekit/ops/gemm.hpp"

namespace fusekit::test {

inline constexpr double nan_v = std::numeric_limits<double>::quiet_NaN();

// C = A B with A(r, 7) = NaN and B(11, c) = NaN: row r and column c of C are NaN, the rest finite.
template <class Ctx, class T>
void gemm_nan_case(Ctx& ctx, index_t M, index_t N, index_t K, std::uint64_t salt) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(fmt::format("gemm NaN {}x{}x{} {}", M, N, K, dtype_of<T>));
  auto a = random_tensor<T, 2>({M, K}, salt);
  auto b = random_tensor<T, 2>({K, N}, salt + 1, -0.1, 0.1);
  const index_t r = M / 2, c = N / 3;
  a(r, 7) = convert<T>(nan_v);
  b(11, c) = convert<T>(nan_v);
  auto da = B::upload(ctx, a);
  auto db = B::upload(ctx, b);
  auto dc = B::template poisoned<float, 2>(ctx, {M, N});
  gemm(ctx, dc, da, db);
  const auto h = B::download(ctx, dc);
  index_t wrong = 0;
  for (index_t i = 0; i < M; ++i)
    for (index_t j = 0; j < N; ++j) wrong += std::isnan(h(i, j)) != (i == r || j == c);
  EXPECT_EQ(wrong, 0) << "outputs whose NaN-ness does not follow their inputs";
}

// A 3x3 convolution of [2, 16, 9, 9] with x(1, 4, 4, 4) = NaN: image 1's outputs at rows and columns
// 3..5 are NaN in every channel (they read the cell); image 0 and image 1's last row and column are
// finite (no Winograd tile that reads the cell reaches them). In between, Winograd may spread the NaN.
template <class Ctx, class T>
void conv_nan_case(Ctx& ctx, Layout layout, std::uint64_t salt) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(fmt::format("conv NaN {} {}", layout == Layout::nhwc ? "NHWC" : "NCHW", dtype_of<T>));
  const index_t N = 2, C = 16, H = 9, W = 9, CO = 8;
  auto xm = image_memory<T>({N, C, H, W}, layout, salt, -1.0, 1.0);
  logical(xm.view(), layout)(1, 4, 4, 4) = convert<T>(nan_v);
  auto w = random_tensor<T, 4>({CO, C, 3, 3}, salt + 1, -0.1, 0.1);
  auto dx = B::upload(ctx, xm);
  auto dw = B::upload(ctx, w);
  const Shape<4> ys{N, CO, H, W};
  auto dy = B::template poisoned<float, 4>(ctx, layout == Layout::nhwc ? Shape<4>{N, H, W, CO} : ys);
  conv2d(ctx, logical(dy.view(), layout), logical(dx.view(), layout).as_const(), dw.view().as_const());
  const auto ym = B::download(ctx, dy);
  const auto y = logical(ym.view(), layout);
  index_t missing = 0, spread = 0;
  for (index_t n = 0; n < N; ++n)
    for (index_t o = 0; o < CO; ++o)
      for (index_t i = 0; i < H; ++i)
        for (index_t j = 0; j < W; ++j) {
          const bool reads = n == 1 && i >= 3 && i <= 5 && j >= 3 && j <= 5;
          const bool far = n == 0 || i == H - 1 || j == W - 1;
          missing += reads && !std::isnan(y(n, o, i, j));
          spread += far && !std::isfinite(y(n, o, i, j));
        }
  EXPECT_EQ(missing, 0) << "outputs that read the NaN but are not NaN";
  EXPECT_EQ(spread, 0) << "outputs that cannot read the NaN but are not finite";
}

// Attention [1, 37 queries, 4 q heads / 2 KV heads, 64]. A NaN in key 20 of KV head 1 under a causal
// mask: q heads 2 and 3 are NaN from query 20 on and finite before (a key a query cannot see has no
// effect); heads 0 and 1 finite. A NaN in value 9 of KV head 0 without a mask: heads 0 and 1 NaN in
// every row, heads 2 and 3 finite.
template <class Ctx, class T>
void attention_nan_case(Ctx& ctx, std::uint64_t salt) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(fmt::format("attention NaN {}", dtype_of<T>));
  const index_t L = 37, Hq = 4, Hkv = 2, D = 64;
  const auto q = random_tensor<T, 4>({1, L, Hq, D}, salt);
  auto k = random_tensor<T, 4>({1, L, Hkv, D}, salt + 1);
  auto v = random_tensor<T, 4>({1, L, Hkv, D}, salt + 2);
  const auto v_clean = v.clone();
  k(0, 20, 1, 5) = convert<T>(nan_v);
  v(0, 9, 0, 3) = convert<T>(nan_v);
  auto dq = B::upload(ctx, q);
  auto dk = B::upload(ctx, k);
  auto dv = B::upload(ctx, v), dv_clean = B::upload(ctx, v_clean);
  auto out = B::template poisoned<T, 4>(ctx, {1, L, Hq, D});
  attention(ctx, out, dq, dk, dv_clean, {.causal = true});
  auto h = B::download(ctx, out);
  index_t wrong = 0;
  for (index_t i = 0; i < L; ++i)
    for (index_t hq = 0; hq < Hq; ++hq)
      for (index_t d = 0; d < D; ++d)
        wrong += std::isnan(static_cast<double>(h(0, i, hq, d))) != (hq >= 2 && i >= 20);
  EXPECT_EQ(wrong, 0) << "causal, NaN key: outputs whose NaN-ness does not follow what they can see";
  out = B::template poisoned<T, 4>(ctx, {1, L, Hq, D});
  auto k_clean = B::upload(ctx, random_tensor<T, 4>({1, L, Hkv, D}, salt + 3));
  attention(ctx, out, dq, k_clean, dv);
  h = B::download(ctx, out);
  wrong = 0;
  for (index_t i = 0; i < L; ++i)
    for (index_t hq = 0; hq < Hq; ++hq)
      for (index_t d = 0; d < D; ++d)
        wrong += std::isnan(static_cast<double>(h(0, i, hq, d))) != (hq < 2 && d == 3);
  EXPECT_EQ(wrong, 0) << "no mask, NaN value: outputs whose NaN-ness does not follow their inputs";
}

}  // namespace fusekit::test
