#pragma once
// GEMM cases shared by the CPU and GPU tests: fresh random operands in [-1, 1] in every storage order
// (row-major, transposed views, strided column ranges of wider tensors, batches and broadcast weights),
// poisoned outputs, a float64 reference product, and every epilogue stage applied in double from its
// definition.
#include <functional>

#include "op_cases_nn.hpp"
#include "fusekit/ops/gemm.hpp"
#include "fusekit/ops/gemm_layernorm.hpp"
#include "fusekit/ops/gemm_rmsnorm.hpp"
#include "fusekit/reference/gemm.hpp"

namespace fusekit::test {

// How an operand is stored: dense in its logical order, as the transpose of a dense tensor (column-major
// A; B = transposed(W) for a [N, K] weight), or as a column range of a wider dense tensor (row stride >
// cols, as q/k/v columns of a fused projection).
enum class Storage { dense, transposed, wide };

struct GemmCase {
  index_t batch, m, n, k;
  Storage a = Storage::dense, b = Storage::transposed;
  bool batched_a = false, batched_b = false;  // rank-3 operands (else shared by every batch entry)
  int tile = -1;
  GemmPath path = GemmPath::automatic;
  int splits = 0;
};

inline std::string describe(const GemmCase& g) {
  auto st = [](Storage s) { return s == Storage::dense ? "dense" : s == Storage::transposed ? "T" : "wide"; };
  return fmt::format("batch {} M {} N {} K {} a {}{} b {}{} path {} tile {} splits {}", g.batch, g.m, g.n, g.k,
                     st(g.a), g.batched_a ? "[b]" : "", st(g.b), g.batched_b ? "[b]" : "", static_cast<int>(g.path),
                     g.tile, g.splits);
}

// Host memory for a logical [batch?, rows, cols] operand in the given storage; returns the memory and
// (through the callback) the logical view of it.
template <class T>
struct StoredOperand {
  HostTensor<T, 3> memory;
  Storage storage;
  index_t rows, cols;

  StoredOperand(index_t batch, index_t r, index_t c, Storage s, std::uint64_t salt)
      : memory(random_tensor<T, 3>(s == Storage::transposed ? Shape<3>{batch, c, r}
                                   : s == Storage::wide     ? Shape<3>{batch, r, c + 24}
                                                            : Shape<3>{batch, r, c},
                                   salt, -1.0, 1.0)),
        storage(s), rows(r), cols(c) {}

  // The logical [batch, rows, cols] view over `mem` (host or device memory of the same layout).
  template <class V>
  auto logical(const V& mem) const {
    if (storage == Storage::transposed) return mem.permute({0, 2, 1});
    if (storage == Storage::wide) return mem.slice(2, 8, 8 + cols);  // offset by 16 bytes in bf16
    return mem;
  }
};

// Batch entry 0 of a rank-3 view, as a rank-2 view.
template <class T, class S>
TensorView<T, 2, S> matrix_of(const TensorView<T, 3, S>& v) {
  return TensorView<T, 2, S>(v.data(), {v.size(1), v.size(2)}, {v.stride(1), v.stride(2)});
}

// The double reference of one output element, given the reference product `acc` [batch, M, N] and
// the output element's coordinates: per epilogue.
using RefEpilogue = std::function<double(const HostTensor<double, 3>& acc, index_t b, index_t r, index_t j)>;

template <class Ctx, class T, class O, class MakeEpi>
void gemm_case(Ctx& ctx, const GemmCase& g, index_t n_out, const MakeEpi& make_epi, const RefEpilogue& ref,
               std::uint64_t salt, double beta = 0.0, double alpha = 1.0) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(describe(g) + fmt::format(" {} -> {}", dtype_of<T>, dtype_of<O>));
  StoredOperand<T> a(g.batched_a ? g.batch : 1, g.m, g.k, g.a, salt);
  StoredOperand<T> b(g.batched_b ? g.batch : 1, g.k, g.n, g.b, salt + 1);
  auto da = B::upload(ctx, a.memory);
  auto db = B::upload(ctx, b.memory);
  const auto av = a.logical(a.memory.view());
  const auto bv = b.logical(b.memory.view());
  const auto dav = a.logical(da.view());
  const auto dbv = b.logical(db.view());
  auto c_init = random_tensor<O, 3>({g.batch, g.m, n_out}, salt + 2, -1.0, 1.0);
  auto c = beta != 0.0 ? B::upload(ctx, c_init) : B::template poisoned<O, 3>(ctx, {g.batch, g.m, n_out});
  // Rank-2 views (matrix_of) for shared operands, rank-3 for batched ones.
  const GemmOptions opt{static_cast<float>(alpha), static_cast<float>(beta), g.path, g.tile, g.splits};
  const auto epi = make_epi();
  if (!g.batched_a && !g.batched_b && g.batch == 1) {
    auto c2 = matrix_of(c.view());
    gemm(ctx, c2, matrix_of(dav), matrix_of(dbv), epi, opt);
  } else if (g.batched_a && g.batched_b) {
    gemm(ctx, c, dav, dbv, epi, opt);
  } else if (g.batched_a) {
    gemm(ctx, c, dav, matrix_of(dbv), epi, opt);
  } else {
    gemm(ctx, c, matrix_of(dav), dbv, epi, opt);
  }
  auto got = B::download(ctx, c);

  HostTensor<double, 3> acc;
  if (g.batched_a && g.batched_b) acc = reference::gemm<T, 3, 3>(av.as_const(), bv.as_const(), g.batch, alpha);
  else if (g.batched_a) acc = reference::gemm<T, 3, 2>(av.as_const(), matrix_of(bv).as_const(), g.batch, alpha);
  else if (g.batched_b) acc = reference::gemm<T, 2, 3>(matrix_of(av).as_const(), bv.as_const(), g.batch, alpha);
  else acc = reference::gemm<T, 2, 2>(matrix_of(av).as_const(), matrix_of(bv).as_const(), g.batch, alpha);
  HostTensor<double, 3> expect(Shape<3>{g.batch, g.m, n_out});
  for (index_t bi = 0; bi < g.batch; ++bi)
    for (index_t r = 0; r < g.m; ++r)
      for (index_t j = 0; j < n_out; ++j) {
        double v = ref(acc, bi, r, j);
        if (beta != 0.0) v += beta * static_cast<double>(c_init(bi, r, j));
        expect(bi, r, j) = v;
      }
  // fp32 accumulation of k products of values in [-1, 1], a few epilogue roundings, one rounding into O.
  auto tol = reference::tolerance_for<O>();
  tol.rtol = std::max(tol.rtol, 2e-5);
  tol.atol = std::max(tol.atol, 4e-6 * std::sqrt(static_cast<double>(std::max<index_t>(g.k, 1))) * 4);
  EXPECT_TRUE(matches(got.view(), expect.view(), tol, "gemm"));
}

// -------- epilogue references (double, from the definitions in ops/gemm_epilogue.hpp) --------

inline double acc_at(const HostTensor<double, 3>& acc, index_t b, index_t r, index_t c) {
  return acc.view()(b, r, c);
}

template <bool kHalfTypes, class Ctx>
void gemm_plain_cases(Ctx& ctx, std::vector<GemmCase> cases) {
  std::uint64_t salt = 4000;
  const RefEpilogue plain = [](const auto& acc, index_t b, index_t r, index_t j) { return acc_at(acc, b, r, j); };
  auto none = [] { return Epilogue<>{}; };
  for (const auto& g : cases) {
    GemmCase f32 = g;  // fp32 operands take only the SIMT kernel
    if (f32.path != GemmPath::automatic && f32.path != GemmPath::simt)
      f32.path = GemmPath::automatic, f32.tile = -1;
    gemm_case<Ctx, float, float>(ctx, f32, g.n, none, plain, salt++);
    if constexpr (kHalfTypes) {
      gemm_case<Ctx, bfloat16, bfloat16>(ctx, g, g.n, none, plain, salt++);
      gemm_case<Ctx, half, half>(ctx, g, g.n, none, plain, salt++);
    }
  }
}

// Every epilogue stage on one problem shape (N even): alpha/beta, bias + GELU-tanh, folded batch norm +
// Mish + residual, and both gate layouts with stages before and after the gate.
template <class Ctx, class T, class O>
void gemm_epilogue_cases(Ctx& ctx, GemmCase g, std::uint64_t salt) {
  using B = Backend<Ctx>;
  namespace ra = reference::act;
  const index_t n = g.n, h = g.n / 2;
  auto bias_h = random_tensor<float, 1>({n}, salt + 10, -1.0, 1.0);
  auto scale_h = random_tensor<float, 1>({n}, salt + 11, 0.5, 1.5);
  auto res_h = random_tensor<O, 3>({g.batch, g.m, n}, salt + 12, -1.0, 1.0);
  auto res_gate_h = random_tensor<O, 2>({g.m, h}, salt + 13, -1.0, 1.0);
  auto bias = B::upload(ctx, bias_h);
  auto scale = B::upload(ctx, scale_h);
  auto res = B::upload(ctx, res_h);
  auto res_gate = B::upload(ctx, res_gate_h);
  const auto bv = bias.view().as_const();
  const auto sv = scale.view().as_const();
  const auto rv = res.view().as_const();
  const auto rgv = res_gate.view().as_const();
  auto bias_at = [&](index_t c) { return static_cast<double>(bias_h(c)); };

  // C = 0.5 A B - 1.25 C
  gemm_case<Ctx, T, O>(
      ctx, g, n, [] { return Epilogue<>{}; },
      [](const auto& acc, index_t b, index_t r, index_t j) { return acc_at(acc, b, r, j); }, salt, -1.25, 0.5);
  // GELU-tanh(A B + bias)
  gemm_case<Ctx, T, O>(
      ctx, g, n, [&] { return make_epilogue(epi::bias(bv), epi::activation<act::GeluTanh>()); },
      [&](const auto& acc, index_t b, index_t r, index_t j) { return ra::gelu_tanh(acc_at(acc, b, r, j) + bias_at(j)); },
      salt + 1);
  // Mish(A B * scale + bias) + residual
  gemm_case<Ctx, T, O>(
      ctx, g, n, [&] { return make_epilogue(epi::scale_bias(sv, bv), epi::activation<act::Mish>(), epi::residual(rv)); },
      [&](const auto& acc, index_t b, index_t r, index_t j) {
        return ra::mish(acc_at(acc, b, r, j) * static_cast<double>(scale_h(j)) + bias_at(j)) +
               static_cast<double>(res_h(b, r, j));
      },
      salt + 2);
  // GeGLU, concatenated [gate | up], then a residual of the output's width
  gemm_case<Ctx, T, O>(
      ctx, g, h,
      [&] { return make_epilogue(epi::gate<act::GeluTanh>(GateLayout::concatenated), epi::residual(rgv)); },
      [&](const auto& acc, index_t b, index_t r, index_t j) {
        return ra::gelu_tanh(acc_at(acc, b, r, j)) * acc_at(acc, b, r, j + h) + static_cast<double>(res_gate_h(r, j));
      },
      salt + 3);
  // SwiGLU, interleaved [g0, u0, g1, u1, ...], bias before the gate
  gemm_case<Ctx, T, O>(
      ctx, g, h, [&] { return make_epilogue(epi::bias(bv), epi::gate<act::Silu>(GateLayout::interleaved)); },
      [&](const auto& acc, index_t b, index_t r, index_t j) {
        return ra::silu(acc_at(acc, b, r, 2 * j) + bias_at(2 * j)) * (acc_at(acc, b, r, 2 * j + 1) + bias_at(2 * j + 1));
      },
      salt + 4);
}

// A Q|K|V projection's attention epilogue: bias, RoPE on the q and k heads (epi::rope: adjacent pairs,
// partial rotary dim, a range that starts past column 0), the k and v heads also stored into cache-like
// views (epi::store_heads), columns past v passing through. Batch > 1 takes per-entry positions and
// rank-4 destinations. g.n >= 72; heads of 16 with 12 rotary columns: q 2 heads, k 1, v 1 from column 4.
template <class Ctx, class T, class O>
void gemm_rope_cases(Ctx& ctx, GemmCase g, std::uint64_t salt) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(describe(g) + fmt::format(" rope {} -> {}", dtype_of<T>, dtype_of<O>));
  constexpr index_t D = 16, rot = 12, q0 = 4, k0 = q0 + 2 * D, v0 = k0 + D, v1 = v0 + D;
  const float base = 500.f;
  ASSERT_GE(g.n, v1 + 4);
  auto a_h = random_tensor<T, 3>({g.batch, g.m, g.k}, salt, -1.0, 1.0);
  auto w_h = random_tensor<T, 2>({g.n, g.k}, salt + 1, -1.0, 1.0);
  auto bias_h = random_tensor<float, 1>({g.n}, salt + 2, -1.0, 1.0);
  HostTensor<std::int32_t, 2> pos_h({g.batch, g.m});
  const auto pos_r = random_tensor<double, 2>({g.batch, g.m}, salt + 3, 0.0, 3000.0);
  for (index_t b = 0; b < g.batch; ++b)
    for (index_t r = 0; r < g.m; ++r) pos_h(b, r) = static_cast<std::int32_t>(pos_r(b, r));
  auto da = B::upload(ctx, a_h);
  auto dw = B::upload(ctx, w_h);
  auto dbias = B::upload(ctx, bias_h);
  auto dpos = B::upload(ctx, pos_h);
  auto c = B::template poisoned<O, 3>(ctx, {g.batch, g.m, g.n});
  auto kd = B::template poisoned<O, 4>(ctx, {g.batch, g.m, 1, D});
  auto vd = B::template poisoned<O, 4>(ctx, {g.batch, g.m, 1, D});
  const GemmOptions opt{1.f, 0.f, g.path, g.tile, g.splits};
  const RopeOptions ro{.base = base, .layout = RopeLayout::interleaved, .rotary_dim = rot};
  if (g.batch == 1) {  // unbatched: rank-2 operands, [rows] positions, rank-3 destinations
    const auto pos1 = dpos.view().as_const().slice(0, 0, 1).reshape(Shape<1>{g.m});
    auto k3 = kd.view().reshape(Shape<3>{g.m, 1, D});
    auto v3 = vd.view().reshape(Shape<3>{g.m, 1, D});
    gemm(ctx, matrix_of(c.view()), matrix_of(da.view()), transposed(dw.view()),
         make_epilogue(epi::bias(dbias.view()), epi::rope(pos1, D, q0, v0, ro), epi::store_heads(k3, k0),
                       epi::store_heads(v3, v0)),
         opt);
  } else {
    gemm(ctx, c, da, transposed(dw.view()),
         make_epilogue(epi::bias(dbias.view()), epi::rope(dpos.view(), D, q0, v0, ro), epi::store_heads(kd.view(), k0),
                       epi::store_heads(vd.view(), v0)),
         opt);
  }
  const auto got = B::download(ctx, c);
  const auto got_k = B::download(ctx, kd);
  const auto got_v = B::download(ctx, vd);

  HostTensor<double, 3> lin({g.batch, g.m, g.n}), expect({g.batch, g.m, g.n});
  HostTensor<double, 4> expect_k({g.batch, g.m, 1, D}), expect_v({g.batch, g.m, 1, D});
  for (index_t b = 0; b < g.batch; ++b)
    for (index_t r = 0; r < g.m; ++r)
      for (index_t j = 0; j < g.n; ++j) {
        double acc = 0;
        for (index_t kk = 0; kk < g.k; ++kk)
          acc += static_cast<double>(to_float(a_h(b, r, kk))) * static_cast<double>(to_float(w_h(j, kk)));
        lin(b, r, j) = acc + static_cast<double>(bias_h(j));
      }
  for (index_t b = 0; b < g.batch; ++b)
    for (index_t r = 0; r < g.m; ++r)
      for (index_t j = 0; j < g.n; ++j) {
        double y = lin(b, r, j);
        const index_t d = (j - q0) % D;
        if (j >= q0 && j < v0 && d < rot) {  // angle = fp32(float(pos) * inv_freq), as rope() defines it
          const float angle = static_cast<float>(pos_h(b, r)) * rope_inv_freq(base, d / 2, rot);
          const double cs = std::cos(static_cast<double>(angle)), sn = std::sin(static_cast<double>(angle));
          const double w = lin(b, r, j ^ 1);
          y = d % 2 == 0 ? y * cs - w * sn : y * cs + w * sn;
        }
        expect(b, r, j) = y;
        if (j >= k0 && j < v0) expect_k(b, r, 0, j - k0) = y;
        if (j >= v0 && j < v1) expect_v(b, r, 0, j - v0) = y;
      }
  auto tol = reference::tolerance_for<O>();
  tol.rtol = std::max(tol.rtol, 2e-5);
  tol.atol = std::max(tol.atol, 2e-5 * std::sqrt(static_cast<double>(std::max<index_t>(g.k, 1))));
  EXPECT_TRUE(matches(got.view(), expect.view(), tol, "gemm rope: c"));
  EXPECT_TRUE(matches(got_k.view(), expect_k.view(), tol, "gemm rope: k heads"));
  EXPECT_TRUE(matches(got_v.view(), expect_v.view(), tol, "gemm rope: v heads"));
}

// gemm_rmsnorm: C = epilogue(rmsnorm(A) W^T) with the norm's weight (and Gemma's unit offset), against
// the double definition. x is offset by `shift` (rows far from zero exercise the fp32 statistics). The
// normalised A is rounded to T once on every path (the fused kernel rounds x * weight, the others
// x * rsqrt * weight), so the tolerance grows with T's rounding and sqrt(K).
// folded: the weight (and offset) folded into W on the host (fold_norm_weight, then rounded to T), the
// call given norm_weight_folded; the reference still uses the unfolded definition.
template <class Ctx, class T, class O, class NW = T>
void gemm_rmsnorm_cases(Ctx& ctx, GemmCase g, std::uint64_t salt, bool unit_offset, bool with_bias = true,
                        double shift = 0.0, bool folded = false) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(describe(g) + fmt::format(" rmsnorm prologue {} -> {} weight {} offset {} shift {} folded {}", dtype_of<T>,
                                         dtype_of<O>, dtype_of<NW>, unit_offset, shift, folded));
  const float eps = 1e-6f;
  auto a_h = random_tensor<T, 3>({g.batch, g.m, g.k}, salt, shift - 1.0, shift + 1.0);
  auto nw_h = random_tensor<NW, 1>({g.k}, salt + 1, unit_offset ? -0.5 : 0.5, unit_offset ? 0.5 : 1.5);
  auto w_h = random_tensor<T, 2>({g.n, g.k}, salt + 2, -1.0, 1.0);
  auto bias_h = random_tensor<float, 1>({g.n}, salt + 3, -1.0, 1.0);
  HostTensor<T, 2> wf_h({g.n, g.k});  // W with the weight folded in (folded cases)
  if (folded) {
    HostTensor<float, 2> wf({g.n, g.k});
    HostTensor<float, 1> nwf({g.k});
    for (index_t kk = 0; kk < g.k; ++kk) nwf(kk) = to_float(nw_h(kk));
    for (index_t j = 0; j < g.n; ++j)
      for (index_t kk = 0; kk < g.k; ++kk) wf(j, kk) = to_float(w_h(j, kk));
    fold_norm_weight(wf.view(), nwf.view().as_const(), unit_offset ? 1.f : 0.f);
    for (index_t j = 0; j < g.n; ++j)
      for (index_t kk = 0; kk < g.k; ++kk) wf_h(j, kk) = convert<T>(wf(j, kk));
  }
  auto da = B::upload(ctx, a_h);
  auto dnw = B::upload(ctx, nw_h);
  auto dw = B::upload(ctx, folded ? wf_h : w_h);
  auto dbias = B::upload(ctx, bias_h);
  auto c = B::template poisoned<O, 3>(ctx, {g.batch, g.m, g.n});
  const GemmOptions opt{1.f, 0.f, g.path, g.tile, g.splits};
  const RmsNormOptions no{.eps = eps, .unit_offset = unit_offset && !folded};
  auto run = [&](const auto& nw) {
    if (g.batch == 1 && with_bias)
      gemm_rmsnorm(ctx, matrix_of(c.view()), matrix_of(da.view()), nw, transposed(dw.view()),
                   make_epilogue(epi::bias(dbias.view())), no, opt);
    else if (with_bias) gemm_rmsnorm(ctx, c, da, nw, transposed(dw.view()), make_epilogue(epi::bias(dbias.view())), no, opt);
    else gemm_rmsnorm(ctx, c, da, nw, transposed(dw.view()), no, opt);
  };
  if (folded) run(norm_weight_folded);
  else run(dnw);
  const auto got = B::download(ctx, c);

  HostTensor<double, 3> expect({g.batch, g.m, g.n});
  std::vector<double> an(static_cast<std::size_t>(g.k));
  for (index_t b = 0; b < g.batch; ++b)
    for (index_t r = 0; r < g.m; ++r) {
      double ss = 0;
      for (index_t kk = 0; kk < g.k; ++kk) ss += std::pow(static_cast<double>(to_float(a_h(b, r, kk))), 2);
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(g.k) + eps);
      for (index_t kk = 0; kk < g.k; ++kk)
        an[kk] = static_cast<double>(to_float(a_h(b, r, kk))) * inv *
                 (static_cast<double>(to_float(nw_h(kk))) + (unit_offset ? 1.0 : 0.0));
      for (index_t j = 0; j < g.n; ++j) {
        double acc = 0;
        for (index_t kk = 0; kk < g.k; ++kk) acc += an[kk] * static_cast<double>(to_float(w_h(j, kk)));
        expect(b, r, j) = acc + (with_bias ? static_cast<double>(bias_h(j)) : 0.0);
      }
    }
  auto tol = reference::tolerance_for<O>();
  const double sk = std::sqrt(static_cast<double>(std::max<index_t>(g.k, 1)));
  tol.rtol = std::max(tol.rtol, 2e-5);
  // |normalised A| <= ~1.8 and |W| <= 1: each product term off by <= 1.8 u_T (one rounding of A)
  tol.atol = std::max({tol.atol, 2e-5 * sk, 4.0 * 1.8 * unit_roundoff<T>() * sk});
  EXPECT_TRUE(matches(got.view(), expect.view(), tol, "gemm_rmsnorm: c"));
}

// gemm_layernorm: C = epilogue(layernorm(A) W^T) against the double definition (rows offset by `shift`:
// the statistics must not cancel), with and without the caller's scratch.
template <class Ctx, class T, class O>
void gemm_layernorm_cases(Ctx& ctx, GemmCase g, std::uint64_t salt, double shift = 0.0, bool with_scratch = false) {
  using B = Backend<Ctx>;
  SCOPED_TRACE(describe(g) + fmt::format(" layernorm prologue {} -> {} shift {} scratch {}", dtype_of<T>, dtype_of<O>,
                                         shift, with_scratch));
  const float eps = 1e-6f;
  auto a_h = random_tensor<T, 3>({g.batch, g.m, g.k}, salt, shift - 1.0, shift + 1.0);
  auto nw_h = random_tensor<T, 1>({g.k}, salt + 1, 0.5, 1.5);
  auto nb_h = random_tensor<T, 1>({g.k}, salt + 2, -1.0, 1.0);
  auto w_h = random_tensor<T, 2>({g.n, g.k}, salt + 3, -1.0, 1.0);
  auto bias_h = random_tensor<float, 1>({g.n}, salt + 4, -1.0, 1.0);
  auto da = B::upload(ctx, a_h);
  auto dnw = B::upload(ctx, nw_h);
  auto dnb = B::upload(ctx, nb_h);
  auto dw = B::upload(ctx, w_h);
  auto dbias = B::upload(ctx, bias_h);
  auto c = B::template poisoned<O, 3>(ctx, {g.batch, g.m, g.n});
  auto scratch = B::template poisoned<T, 2>(ctx, {g.batch * g.m, g.k});
  const GemmOptions opt{1.f, 0.f, g.path, g.tile, g.splits};
  const LayerNormOptions no{.eps = eps};
  const auto epi = make_epilogue(epi::bias(dbias.view()));
  if (with_scratch) gemm_layernorm(ctx, c, da, dnw, dnb, transposed(dw.view()), epi, no, opt, scratch);
  else gemm_layernorm(ctx, c, da, dnw, dnb, transposed(dw.view()), epi, no, opt);
  const auto got = B::download(ctx, c);

  HostTensor<double, 3> expect({g.batch, g.m, g.n});
  std::vector<double> an(static_cast<std::size_t>(g.k));
  for (index_t b = 0; b < g.batch; ++b)
    for (index_t r = 0; r < g.m; ++r) {
      double mean = 0, var = 0;
      for (index_t kk = 0; kk < g.k; ++kk) mean += static_cast<double>(to_float(a_h(b, r, kk)));
      mean /= static_cast<double>(g.k);
      for (index_t kk = 0; kk < g.k; ++kk) var += std::pow(static_cast<double>(to_float(a_h(b, r, kk))) - mean, 2);
      const double inv = 1.0 / std::sqrt(var / static_cast<double>(g.k) + eps);
      for (index_t kk = 0; kk < g.k; ++kk)
        an[kk] = (static_cast<double>(to_float(a_h(b, r, kk))) - mean) * inv * static_cast<double>(to_float(nw_h(kk))) +
                 static_cast<double>(to_float(nb_h(kk)));
      for (index_t j = 0; j < g.n; ++j) {
        double acc = 0;
        for (index_t kk = 0; kk < g.k; ++kk) acc += an[kk] * static_cast<double>(to_float(w_h(j, kk)));
        expect(b, r, j) = acc + static_cast<double>(bias_h(j));
      }
    }
  auto tol = reference::tolerance_for<O>();
  const double sk = std::sqrt(static_cast<double>(std::max<index_t>(g.k, 1)));
  tol.rtol = std::max(tol.rtol, 2e-5);
  // |normalised A| <= ~3.6 (|x - mean| / std <= 1.8, weight <= 1.5, bias <= 1), rounded to T once; and
  // x - mean in fp32 carries |shift| 2^-24 per element
  tol.atol = std::max({tol.atol, 2e-5 * sk, 4.0 * 3.6 * unit_roundoff<T>() * sk, std::abs(shift) * 0x1p-20 * sk});
  EXPECT_TRUE(matches(got.view(), expect.view(), tol, "gemm_layernorm: c"));
}

// gemm_rmsnorm's own checks: the weight's length, rows that are not dense.
template <class Ctx>
void gemm_rmsnorm_bad_input_cases(Ctx& ctx) {
  using B = Backend<Ctx>;
  auto a = B::upload(ctx, random_tensor<float, 2>({5, 8}, 11));
  auto w = B::upload(ctx, random_tensor<float, 2>({3, 8}, 12));
  auto nw7 = B::upload(ctx, random_tensor<float, 1>({7}, 13));
  auto nw8 = B::upload(ctx, random_tensor<float, 1>({8}, 14));
  auto c = B::template poisoned<float, 2>(ctx, {5, 3});
  auto c8 = B::template poisoned<float, 2>(ctx, {8, 3});
  expect_error_untouched(ctx, c, [&] { gemm_rmsnorm(ctx, c, a, nw7, transposed(w.view())); },
                         {"norm weight must be a dense [8]", "[7]"});
  auto at = B::upload(ctx, random_tensor<float, 2>({8, 5}, 15));
  expect_error_untouched(ctx, c8, [&] { gemm_rmsnorm(ctx, c8, transposed(at.view()), nw8, transposed(w.view())); },
                         {"a must have dense rows"});
  expect_error_untouched(ctx, c, [&] { gemm_rmsnorm(ctx, c, a, nw8, w); }, {"inner dimensions differ"});
  expect_error_untouched(ctx, c, [&] {
    gemm_rmsnorm(ctx, c, a, norm_weight_folded, transposed(w.view()), RmsNormOptions{.unit_offset = true});
  }, {"fold its unit offset too"});
  auto nb7 = B::upload(ctx, random_tensor<float, 1>({7}, 16));
  auto nb8 = B::upload(ctx, random_tensor<float, 1>({8}, 17));
  expect_error_untouched(ctx, c, [&] { gemm_layernorm(ctx, c, a, nw8, nb7, transposed(w.view())); }, {"bias has shape [7]"});
  expect_error_untouched(ctx, c8, [&] { gemm_layernorm(ctx, c8, transposed(at.view()), nw8, nb8, transposed(w.view())); },
                         {"gemm_layernorm: a must have dense rows"});
  auto small = B::template poisoned<float, 2>(ctx, {4, 8});
  expect_error_untouched(ctx, c, [&] {
    gemm_rmsnorm(ctx, c, a, nw8, transposed(w.view()), make_epilogue(), RmsNormOptions{}, GemmOptions{}, small);
  }, {"scratch tensor holds 32 elements", "needs 40"});
}

// Wrong shapes, dtypes of epilogue tensors and aliasing fail with a message naming the shapes.
template <class Ctx>
void gemm_bad_input_cases(Ctx& ctx) {
  using B = Backend<Ctx>;
  auto a = B::upload(ctx, random_tensor<float, 2>({5, 7}, 1));
  auto b = B::upload(ctx, random_tensor<float, 2>({6, 3}, 2));
  auto b_ok = B::upload(ctx, random_tensor<float, 2>({7, 4}, 3));
  auto c = B::template poisoned<float, 2>(ctx, {5, 3});
  auto c4 = B::template poisoned<float, 2>(ctx, {5, 4});
  auto c2 = B::template poisoned<float, 2>(ctx, {5, 2});
  auto bias3 = B::upload(ctx, random_tensor<float, 1>({3}, 4));
  expect_error_untouched(ctx, c, [&] { gemm(ctx, c, a, b); }, {"inner dimensions differ: a [5, 7]"});
  expect_error_untouched(ctx, c, [&] { gemm(ctx, c, a, b_ok); }, {"c must be [5, 4]"});
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::bias(bias3))); }, {"bias has 3 elements"});
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::gate<act::Silu>(GateLayout::concatenated))); }, {"c must be [5, 2]"});
  expect_error_untouched(ctx, c2, [&] { gemm(ctx, c2, a, b_ok, make_epilogue(epi::gate<act::Silu>(GateLayout::concatenated)), {1.f, 1.f}); }, {"beta must be 0"});
  expect_error([&] { gemm(ctx, a.view().slice(1, 0, 4), a.view().slice(1, 0, 7), b_ok); }, "overlaps");
  // epi::rope and epi::store_heads: ranges past the output, half-split layout, positions of the wrong length
  auto pos5 = B::upload(ctx, HostTensor<std::int32_t, 1>({5}));
  auto pos4 = B::upload(ctx, HostTensor<std::int32_t, 1>({4}));
  auto heads = B::template poisoned<float, 3>(ctx, {5, 1, 2});
  const RopeOptions inter{.layout = RopeLayout::interleaved};
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::rope(pos5.view(), 2, 0, 6, inter))); },
                         {"turns columns [0, 6)", "4 columns"});
  expect_error([&] { (void)epi::rope(pos5.view(), 2, 0, 4); }, "interleaved");
  expect_error([&] { (void)epi::rope(pos5.view(), 4, 0, 6, inter); }, "whole heads of 4");
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::rope(pos4.view(), 2, 0, 4, inter))); },
                         {"positions for 1 batch entries of 4 rows"});
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::store_heads(heads.view(), 3))); },
                         {"store_heads takes columns [3, 5)"});
  expect_error_untouched(ctx, c4, [&] { gemm(ctx, c4, a, b_ok, make_epilogue(epi::rope(pos5.view(), 2, 0, 4, inter)), {1.f, 1.f}); },
                         {"beta must be 0 with epi::rope"});
}

}  // namespace fusekit::test
