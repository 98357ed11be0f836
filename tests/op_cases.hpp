#pragma once
// Op test cases written once and run on every backend: the CPU tests instantiate them with
// cpu::Context, the GPU tests with hip::Stream. Each case draws fresh random inputs, poisons the
// outputs, runs the op and compares with the float64 reference under a per-dtype tolerance.
#include <cmath>
#include <limits>

#include "common.hpp"
#include "fusekit/ops/activation.hpp"
#include "fusekit/ops/add.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/fill.hpp"
#include "fusekit/ops/layernorm.hpp"
#include "fusekit/ops/rmsnorm.hpp"
#include "fusekit/reference/activation.hpp"
#include "fusekit/reference/elementwise.hpp"
#include "fusekit/reference/norm.hpp"

namespace fusekit::test {

// Moves data between the test (host) and a backend's memory space.
template <class Ctx> struct Backend;

template <>
struct Backend<cpu::Context> {
  template <class T, std::size_t R>
  static HostTensor<T, R> upload(cpu::Context&, const HostTensor<T, R>& h) { return h.clone(); }
  template <class T, std::size_t R>
  static HostTensor<T, R> download(cpu::Context&, const HostTensor<T, R>& t) { return t.clone(); }
  template <class T, std::size_t R>
  static HostTensor<T, R> poisoned(cpu::Context&, const Shape<R>& s) {
    HostTensor<T, R> t(s);
    poison(t);
    return t;
  }
};

// fn() must fail with a fusekit::Error naming every fragment and leave `out` (poisoned beforehand) as it
// was: ops check their arguments before they write anything.
template <class Ctx, class O, class Fn>
void expect_error_untouched(Ctx& ctx, const O& out, Fn&& fn, std::initializer_list<const char*> fragments) {
  using B = Backend<Ctx>;
  const auto before = B::download(ctx, out);
  expect_error(fn, fragments);
  const auto after = B::download(ctx, out);
  EXPECT_EQ(std::memcmp(before.data(), after.data(), before.bytes()), 0)
      << "the failed call wrote to its output (error mentioning '" << *fragments.begin() << "')";
}

// -------- elementwise --------

template <class Ctx, class T>
void fill_case(Ctx& ctx, const Shape<3>& shape, double value) {
  using B = Backend<Ctx>;
  auto t = B::template poisoned<T, 3>(ctx, shape);
  fill(ctx, t, value);
  auto h = B::download(ctx, t);
  EXPECT_TRUE(matches(h.view(), reference::fill<T, 3>(shape, value).view(), {0.0, 0.0}, "fill"));
}

// Cast every element of a random tensor (with NaN and +-Inf planted) from I to O through a strided view.
template <class Ctx, class I, class O>
void cast_case(Ctx& ctx, const Shape<2>& shape, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto src = random_tensor<I, 2>({shape[1], shape[0]}, salt, -300.0, 300.0);  // transposed storage
  if constexpr (!std::is_integral_v<I>) {
    src.data()[0] = convert<I>(std::numeric_limits<double>::quiet_NaN());
    if (src.numel() > 2) {
      src.data()[1] = convert<I>(std::numeric_limits<double>::infinity());
      src.data()[2] = convert<I>(-std::numeric_limits<double>::infinity());
    }
  }
  auto dsrc = B::upload(ctx, src);
  auto dst = B::template poisoned<O, 2>(ctx, shape);
  copy(ctx, dst, dsrc.view().permute({1, 0}));  // non-contiguous source
  auto h = B::download(ctx, dst);
  const auto expect = reference::cast<O, I, 2>(src.view().permute({1, 0}));
  EXPECT_TRUE(matches(h.view(), expect.view(), {0.0, 0.0}, "copy/cast"));
}

template <class Ctx, class A, class Bt, class O>
void add_case(Ctx& ctx, const Shape<3>& sa, const Shape<3>& sb, const Shape<3>& so, std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto a = random_tensor<A, 3>(sa, salt);
  auto b = random_tensor<Bt, 3>(sb, salt + 1);
  auto da = B::upload(ctx, a);
  auto db = B::upload(ctx, b);
  auto out = B::template poisoned<O, 3>(ctx, so);
  add(ctx, out, da, db);
  auto h = B::download(ctx, out);
  auto ref = reference::add<A, Bt, 3>(a.view(), b.view(), so);
  // One rounding of the sum into O (the fp32 sum of 16-bit inputs is exact here, |x| <= 4).
  EXPECT_TRUE(matches(h.view(), ref.view(), reference::tolerance_for<O>(),
                            fmt::format("add {} + {} -> {}", sa, sb, so)));
}

// The elementwise case lists, run by both backends' tests.
template <class Ctx>
void fill_cases(Ctx& ctx) {
  fill_case<Ctx, float>(ctx, {3, 5, 7}, 1.25);
  fill_case<Ctx, half>(ctx, {1, 1, 1}, -3.1);
  fill_case<Ctx, bfloat16>(ctx, {2, 33, 9}, 1e30);
  fill_case<Ctx, int64_t>(ctx, {4, 1, 3}, 9007199254740993.0);
  fill_case<Ctx, uint8_t>(ctx, {5, 2, 2}, 200);
}

template <class Ctx>
void cast_cases(Ctx& ctx) {
  const Shape<2> s{37, 129};
  cast_case<Ctx, float, bfloat16>(ctx, s, 1);
  cast_case<Ctx, float, half>(ctx, s, 2);
  cast_case<Ctx, bfloat16, float>(ctx, s, 3);
  cast_case<Ctx, half, bfloat16>(ctx, s, 4);
  cast_case<Ctx, bfloat16, half>(ctx, s, 5);
  cast_case<Ctx, half, float>(ctx, s, 6);
  cast_case<Ctx, float, float>(ctx, s, 7);
  cast_case<Ctx, int32_t, float>(ctx, s, 8);
  cast_case<Ctx, float, half>(ctx, {1000, 1001}, 9);  // ~1M values through the backend's rounding
}

template <class Ctx>
void add_cases(Ctx& ctx) {
  add_case<Ctx, float, float, float>(ctx, {3, 5, 7}, {3, 5, 7}, {3, 5, 7}, 10);
  add_case<Ctx, float, float, float>(ctx, {3, 1, 7}, {1, 5, 1}, {3, 5, 7}, 11);
  add_case<Ctx, bfloat16, bfloat16, bfloat16>(ctx, {11, 1, 1152}, {1, 1, 1152}, {11, 1, 1152}, 12);
  add_case<Ctx, half, float, half>(ctx, {2, 9, 1}, {2, 9, 13}, {2, 9, 13}, 13);
  add_case<Ctx, bfloat16, half, float>(ctx, {1, 788, 72}, {1, 788, 72}, {1, 788, 72}, 14);
  add_case<Ctx, int32_t, int32_t, int32_t>(ctx, {4, 4, 4}, {4, 1, 4}, {4, 4, 4}, 15);
}

// -------- activations --------

// Plants NaN, +-Inf and large magnitudes at the start of a random tensor (where the dtype can hold them).
template <class T, std::size_t R>
void plant_specials(HostTensor<T, R>& t) {
  const double inf = std::numeric_limits<double>::infinity();
  const double specials[] = {std::numeric_limits<double>::quiet_NaN(), inf, -inf, 30.0, -30.0, 1000.0, -1000.0,
                             0.0, -0.0, 1e-6, -1e-6, 19.9, 20.1, -87.0, -120.0};
  for (std::size_t i = 0; i < std::size(specials) && static_cast<index_t>(i) < t.numel(); ++i)
    t.data()[i] = convert<T>(specials[i]);
}

template <class Ctx, class T, class Act>
void activation_case(Ctx& ctx, const Act& f, double (*ref)(double), const char* name, const Shape<2>& shape,
                     std::uint64_t salt) {
  using B = Backend<Ctx>;
  auto x = random_tensor<T, 2>(shape, salt, -12.0, 12.0);
  plant_specials(x);
  auto dx = B::upload(ctx, x);
  auto out = B::template poisoned<T, 2>(ctx, shape);
  activation(ctx, out, dx, f);
  auto h = B::download(ctx, out);
  HostTensor<double, 2> expect(shape);
  for (index_t i = 0; i < expect.numel(); ++i) expect.data()[i] = ref(static_cast<double>(x.data()[i]));
  EXPECT_TRUE(matches(h.view(), expect.view(), reference::tolerance_for<T>(), fmt::format("{} {}", name, shape)));
}

// out = f(gate) * up from one [rows, 2n] tensor (strided halves) and from two tensors.
template <class Ctx, class T, class Act>
void gated_case(Ctx& ctx, const Act& f, double (*ref)(double), const char* name, const Shape<2>& shape,
                std::uint64_t salt) {
  using B = Backend<Ctx>;
  const index_t n = shape[1];
  auto gu = random_tensor<T, 2>({shape[0], 2 * n}, salt, -6.0, 6.0);
  auto dgu = B::upload(ctx, gu);
  HostTensor<double, 2> expect(shape);
  for (index_t r = 0; r < shape[0]; ++r)
    for (index_t c = 0; c < n; ++c)
      expect(r, c) = ref(static_cast<double>(gu(r, c))) * static_cast<double>(gu(r, n + c));
  // one rounding of a product of two fp32-accurate factors: a little more than the dtype's own tolerance
  auto tol = reference::tolerance_for<T>();
  tol.rtol *= 1.5;
  auto out = B::template poisoned<T, 2>(ctx, shape);
  gated(ctx, out, dgu, f);
  EXPECT_TRUE(matches(B::download(ctx, out).view(), expect.view(), tol, fmt::format("{} [gate|up] {}", name, shape)));
  auto g = B::upload(ctx, dense_copy(gu.view().slice(1, 0, n)));
  auto u = B::upload(ctx, dense_copy(gu.view().slice(1, n, 2 * n)));
  auto out2 = B::template poisoned<T, 2>(ctx, shape);
  gated(ctx, out2, g, u, f);
  EXPECT_TRUE(matches(B::download(ctx, out2).view(), expect.view(), tol, fmt::format("{} gate, up {}", name, shape)));
}

template <class Ctx, class T>
void activation_cases_for(Ctx& ctx, const Shape<2>& shape, std::uint64_t salt) {
  namespace ra = reference::act;
  activation_case<Ctx, T>(ctx, act::Identity{}, ra::identity, "identity", shape, salt);
  activation_case<Ctx, T>(ctx, act::Relu{}, ra::relu, "relu", shape, salt + 1);
  activation_case<Ctx, T>(ctx, act::GeluErf{}, ra::gelu_erf, "gelu_erf", shape, salt + 2);
  activation_case<Ctx, T>(ctx, act::GeluTanh{}, ra::gelu_tanh, "gelu_tanh", shape, salt + 3);
  activation_case<Ctx, T>(ctx, act::Sigmoid{}, ra::sigmoid, "sigmoid", shape, salt + 4);
  activation_case<Ctx, T>(ctx, act::Silu{}, ra::silu, "silu", shape, salt + 5);
  activation_case<Ctx, T>(ctx, act::Tanh{}, ra::tanh, "tanh", shape, salt + 6);
  activation_case<Ctx, T>(ctx, act::Softplus{}, ra::softplus, "softplus", shape, salt + 7);
  activation_case<Ctx, T>(ctx, act::Mish{}, ra::mish, "mish", shape, salt + 8);
  activation_case<Ctx, T>(ctx, act::MishScale8{}, ra::mish_scale8, "mish_scale8", shape, salt + 9);
  gated_case<Ctx, T>(ctx, act::Silu{}, ra::silu, "silu*mul", shape, salt + 10);
  gated_case<Ctx, T>(ctx, act::GeluTanh{}, ra::gelu_tanh, "gelu_tanh*mul", shape, salt + 11);
}

template <class Ctx>
void activation_cases(Ctx& ctx) {
  for (const Shape<2> s : {Shape<2>{1, 72}, Shape<2>{11, 1024}, Shape<2>{37, 129}}) {
    activation_cases_for<Ctx, float>(ctx, s, 20);
    activation_cases_for<Ctx, half>(ctx, s, 40);
    activation_cases_for<Ctx, bfloat16>(ctx, s, 60);
  }
}

// -------- RMSNorm and LayerNorm --------

struct NormCase {
  index_t rows, cols;
  bool residual;
  bool unit_offset;
  KernelPath path = KernelPath::automatic;
  bool strided = false;  // x/out are column slices of wider tensors (row stride > cols)
  int block = 0;         // GPU threads per row (0: automatic)
  bool layer = false;    // LayerNorm (with bias) instead of RMSNorm
  double offset = 0;     // x drawn from [offset - 2, offset + 2]: rows whose mean dwarfs their spread
  bool no_weight = false;  // RMSNorm without a weight (no residual, no offset): the reference's weight is 1
  double far_first = 0;    // nonzero: each row's first x is this (odd rows: minus this), far from the rest
};

template <class Ctx, class T, class W>
void norm_case(Ctx& ctx, const NormCase& k, std::uint64_t salt) {
  using B = Backend<Ctx>;
  const index_t pad = k.strided ? 8 : 0;  // keeps 16-byte alignment so the vectorized path stays valid
  const Shape<2> wide{k.rows, k.cols + pad};
  auto x = random_tensor<T, 2>(wide, salt, k.offset - 2.0, k.offset + 2.0);
  if (k.far_first != 0)  // (statistics from sums shifted by the row's first value would cancel here)
    for (index_t rr = 0; rr < k.rows; ++rr) x(rr, pad) = convert<T>(rr % 2 ? -k.far_first : k.far_first);
  auto r = random_tensor<T, 2>(wide, salt + 1);
  auto w = k.no_weight ? random_tensor<W, 1>({k.cols}, salt + 2, 1.0, 1.0) : random_tensor<W, 1>({k.cols}, salt + 2, -1.5, 1.5);
  auto bias = random_tensor<W, 1>({k.cols}, salt + 3, -1.0, 1.0);
  auto dx = B::upload(ctx, x);
  auto dr = B::upload(ctx, r);
  auto dw = B::upload(ctx, w);
  auto db = B::upload(ctx, bias);
  auto out = B::template poisoned<T, 2>(ctx, wide);
  auto rout = B::template poisoned<T, 2>(ctx, wide);
  auto cols = [&](auto v) { return v.slice(1, pad, pad + k.cols); };
  if (k.layer) {
    const LayerNormOptions opt{1e-6f, k.path, k.block};
    if (k.residual) layernorm(ctx, cols(out.view()), cols(rout.view()), cols(dx.view()), cols(dr.view()), dw, db, opt);
    else layernorm(ctx, cols(out.view()), cols(dx.view()), dw, db, opt);
  } else {
    const RmsNormOptions opt{1e-6f, k.unit_offset, k.path, k.block};
    if (k.no_weight) {
      ASSERT_FALSE(k.residual || k.unit_offset) << "no_weight cases take neither";
      rmsnorm(ctx, cols(out.view()), cols(dx.view()), opt);
    } else if (k.residual) rmsnorm(ctx, cols(out.view()), cols(rout.view()), cols(dx.view()), cols(dr.view()), dw, opt);
    else rmsnorm(ctx, cols(out.view()), cols(dx.view()), dw, opt);
  }
  auto ho = B::download(ctx, out);
  const auto what = fmt::format("{} {}x{} {} w={} residual={} unit_offset={} strided={} path={} block={} offset={} "
                                "far_first={}",
                                k.layer ? "layernorm" : k.no_weight ? "rmsnorm (no weight)" : "rmsnorm", k.rows, k.cols,
                                dtype_of<T>, k.no_weight ? std::string("none") : fmt::format("{}", dtype_of<W>), k.residual, k.unit_offset, k.strided,
                                static_cast<int>(k.path), k.block, k.offset, k.far_first);
  // the normalised input: x, or the stored sum round_T(x + r), which must match exactly
  HostTensor<T, 2> normed = dense_copy(cols(x.view()));
  if (k.residual) {
    normed = reference::residual_sum<T>(cols(x.view()), cols(r.view()));
    auto hr = B::download(ctx, rout);
    EXPECT_TRUE(matches(cols(hr.view()), reference::to_double(normed.view()), {0.0, 0.0}, what + " (residual sum)"));
  }
  const auto y = k.layer ? reference::layernorm<T, W>(normed.view(), w.view(), bias.view(), 1e-6)
                         : reference::rmsnorm<T, W>(normed.view(), w.view(), 1e-6, k.unit_offset);
  auto tol = reference::tolerance_for<T>();
  // x - mean in fp32 carries ~|x| * 2^-24 of rounding however the statistics are formed: allow it
  // (a variance from E[x^2] - mean^2 is off by ~|x|^2 * 2^-24 and still fails).
  tol.atol = std::max(tol.atol, std::abs(k.offset) * 0x1p-20);
  EXPECT_TRUE(matches(cols(ho.view()), y.view(), tol, what));
  if (pad) {  // columns outside the view stay untouched (poisoned)
    for (index_t rr = 0; rr < k.rows; ++rr)
      for (index_t c = 0; c < pad; ++c) ASSERT_TRUE(std::isnan(static_cast<double>(ho(rr, c)))) << what;
  }
}

}  // namespace fusekit::test
