// CPU kernel benchmarks (Google Benchmark). Bytes processed are counted as each input read once and
// each output written once.
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

BENCHMARK_MAIN();
