// CPU kernel benchmarks (Google Benchmark). Bytes processed are counted as each input read once and
// each output written once.
#include <cmath>
#include <vector>

#include <benchmark/benchmark.h>

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

BENCHMARK_MAIN();
