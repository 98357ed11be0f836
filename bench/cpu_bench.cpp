// CPU kernel benchmarks (Google Benchmark). Bytes processed are counted as each input read once and
// each output written once.
#include <cmath>
#include <vector>

#include <benchmark/benchmark.h>
#define EIGEN_USE_THREADS  // Eigen::ThreadPoolDevice for the threaded Tensor contraction
#include <unsupported/Eigen/CXX11/Tensor>

#include <fusekit/fusekit.hpp>

using namespace fusekit;

template <class T>
static void BM_RmsNormResidual(benchmark::State& st) {
  const index_t rows = st.range(0), cols = st.range(1);
  cpu::Context ctx(static_cast<int>(st.range(2)));
  HostTensor<T, 2> x({rows, cols}), r({rows, cols}), y({rows, cols}), s({rows, cols});
  HostTensor<T, 1> w({cols});
  fill(ctx, x, 0.5);
  fill(ctx, r, 0.25);
  fill(ctx, w, 0.1);
  for (auto _ : st) {
    rmsnorm(ctx, y, s, x, r, w, {1e-6f, true});
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * 4 * rows * cols * static_cast<int64_t>(sizeof(T)));
}
BENCHMARK(BM_RmsNormResidual<float>)->Args({788, 2048, 1})->Args({788, 2048, 2})->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RmsNormResidual<bfloat16>)->Args({788, 2048, 1})->Unit(benchmark::kMicrosecond);

static void BM_AddBroadcast(benchmark::State& st) {
  const index_t n = st.range(0);
  cpu::Context ctx(1);
  HostTensor<float, 2> a({n, 1024}), b({1, 1024}), y({n, 1024});
  fill(ctx, a, 1.0);
  fill(ctx, b, 2.0);
  for (auto _ : st) {
    add(ctx, y, a, b);
    benchmark::DoNotOptimize(y.data());
  }
  st.SetBytesProcessed(st.iterations() * 2 * n * 1024 * 4);
}
BENCHMARK(BM_AddBroadcast)->Arg(788)->Unit(benchmark::kMicrosecond);

// Mish over 10M floats on one core: the plain scalar loop a user would write, against fusekit.
static std::vector<float> mish_input(std::size_t n) {
  std::vector<float> x(n);
  std::uint32_t k = 12345;
  for (auto& v : x) {
    k = k * 1664525u + 1013904223u;
    v = static_cast<float>(k >> 8) / static_cast<float>(1u << 24) * 10.0f - 5.0f;
  }
  return x;
}

static void BM_MishScalarLoop(benchmark::State& st) {
  const auto x = mish_input(10'000'000);
  std::vector<float> y(x.size());
  for (auto _ : st) {
    for (std::size_t i = 0; i < x.size(); ++i) y[i] = x[i] * std::tanh(std::log1p(std::exp(x[i])));
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(x.size()));
}
BENCHMARK(BM_MishScalarLoop)->Unit(benchmark::kMillisecond);

static void BM_MishFusekit(benchmark::State& st) {
  const auto x = mish_input(10'000'000);
  std::vector<float> y(x.size());
  cpu::Context ctx(1);
  const HostView<const float, 1> xv(x.data(), Shape<1>{static_cast<index_t>(x.size())});
  const HostView<float, 1> yv(y.data(), Shape<1>{static_cast<index_t>(y.size())});
  for (auto _ : st) {
    activation(ctx, yv, xv, act::Mish{});
    benchmark::DoNotOptimize(y.data());
  }
  st.SetItemsProcessed(st.iterations() * static_cast<int64_t>(x.size()));
}
BENCHMARK(BM_MishFusekit)->Unit(benchmark::kMillisecond);

// ---- convolution: KataGo's trunk conv, 3x3 192 -> 192 on 19x19, batch 8 ----
// Effective GFLOP/s = the direct convolution's 2 N H W Cout Cin 9 flops per second, for fusekit's conv2d
// (Winograd or im2col, prepared weights, NHWC) and for Eigen's own GEMM on the equivalent im2col product
// [N H W, 9 Cin] x [9 Cin, Cout] (the yardstick of issue #4). Arguments: batch, threads.
static constexpr index_t conv_c = 192, conv_hw = 19;

static double conv_flops(index_t n) { return 2.0 * static_cast<double>(n * conv_hw * conv_hw * conv_c * conv_c * 9); }

static void BM_Conv3x3(benchmark::State& st, ConvAlgo algo, bool fused) {
  const index_t n = st.range(0);
  cpu::Context ctx(static_cast<int>(st.range(1)));
  HostTensor<float, 4> x({n, conv_hw, conv_hw, conv_c}), y({n, conv_hw, conv_hw, conv_c}), r({n, conv_hw, conv_hw, conv_c});
  HostTensor<float, 4> w({conv_c, conv_c, 3, 3}), mask({n, 1, conv_hw, conv_hw});
  HostTensor<float, 1> s({conv_c}), b({conv_c});
  fill(ctx, x, 0.5);
  fill(ctx, r, 0.25);
  fill(ctx, w, 0.01);
  fill(ctx, mask, 1.0);
  fill(ctx, s, 1.1);
  fill(ctx, b, 0.1);
  const auto pw = cpu::prepare_conv_weights(w.view().as_const());
  const auto xl = x.view().permute({0, 3, 1, 2});
  auto yl = y.view().permute({0, 3, 1, 2});
  const auto rl = r.view().permute({0, 3, 1, 2});
  for (auto _ : st) {
    if (fused)
      conv2d(ctx, yl, xl, pw, input_norm_act(s, b, mask, act::Mish{}), make_epilogue(epi::residual(rl)), {algo});
    else conv2d(ctx, yl, xl, pw, {algo});
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(n) * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK_CAPTURE(BM_Conv3x3, winograd, ConvAlgo::winograd, false)->Args({8, 1})->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv3x3, winograd_normact_residual, ConvAlgo::winograd, true)->Args({8, 1})->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK_CAPTURE(BM_Conv3x3, im2col, ConvAlgo::implicit_gemm, false)->Args({8, 1})->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// Eigen's GEMM on the im2col product: Matrix product on one thread, the Tensor contraction on a
// ThreadPoolDevice for several (Eigen's Matrix product threads only through OpenMP).
static void BM_EigenIm2colGemm(benchmark::State& st) {
  const index_t n = st.range(0), threads = st.range(1);
  const Eigen::Index m = n * conv_hw * conv_hw, k = 9 * conv_c;
  Eigen::MatrixXf a = Eigen::MatrixXf::Constant(m, k, 0.5f), bm = Eigen::MatrixXf::Constant(k, conv_c, 0.01f), c(m, conv_c);
  Eigen::ThreadPool pool(static_cast<int>(threads));
  Eigen::ThreadPoolDevice dev(&pool, static_cast<int>(threads));
  Eigen::TensorMap<Eigen::Tensor<float, 2>> ta(a.data(), m, k), tb(bm.data(), k, conv_c), tc(c.data(), m, conv_c);
  const Eigen::array<Eigen::IndexPair<int>, 1> dims = {Eigen::IndexPair<int>(1, 0)};
  for (auto _ : st) {
    if (threads == 1) c.noalias() = a * bm;
    else tc.device(dev) = ta.contract(tb, dims);
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(conv_flops(n) * static_cast<double>(st.iterations()) / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_EigenIm2colGemm)->Args({8, 1})->Args({8, 2})->Unit(benchmark::kMillisecond)->UseRealTime();

// Attention (issue #5 shapes): q, k, v uniform in [-2, 2) (never constants); FLOP/s count 4 D per visible
// (query, key, head). Args: {row, threads}; rows 0 = Pi0 decode step, 1 = SigLIP, 2 = Pi0 prefill.
static void BM_Attention(benchmark::State& st) {
  struct Row { index_t b, sq, skv, hq, hkv, d; bool block; };
  const Row rows[] = {{1, 11, 799, 8, 1, 256, true}, {3, 256, 256, 16, 16, 72, false}, {1, 788, 788, 8, 1, 256, false}};
  const Row r = rows[st.range(0)];
  cpu::Context ctx(static_cast<int>(st.range(1)));
  auto random = [](auto& t, unsigned seed) {
    std::uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (index_t i = 0; i < t.numel(); ++i) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      t.data()[i] = static_cast<float>(x >> 40) / static_cast<float>(1 << 24) * 4.f - 2.f;
    }
  };
  HostTensor<float, 4> q({r.b, r.sq, r.hq, r.d}), k({r.b, r.skv, r.hkv, r.d}), v({r.b, r.skv, r.hkv, r.d}),
      o({r.b, r.sq, r.hq, r.d});
  random(q, 1), random(k, 2), random(v, 3);
  HostTensor<std::int32_t, 2> ends({r.b, r.sq});
  for (index_t i = 0; i < r.sq; ++i) ends(0, i) = static_cast<std::int32_t>(i == 0 ? r.skv - r.sq + 1 : r.skv);
  AttentionMasks<HostSpace> masks;
  if (r.block) masks.kv_end = ends.view();
  for (auto _ : st) {
    attention(ctx, o, q, k, v, masks);
    benchmark::DoNotOptimize(o.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(4.0 * r.b * r.sq * r.skv * r.hq * r.d * st.iterations() / 1e9,
                                              benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Attention)->Args({0, 1})->Args({0, 2})->Args({1, 1})->Args({1, 2})->Args({2, 2})
    ->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();
