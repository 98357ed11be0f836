// Experiment (not built by CMake): what the 11-row GEMMs of a Pi0 decode step (the action expert's
// projections) spend their time on, every variant timed in one run beside the library's choice and a
// kernel that only reads the same weight bytes. Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a --expt-relaxed-constexpr -DFMT_HEADER_ONLY=1 -Iinclude -I.deps/usr/include \
//     -I.deps/usr/include/eigen3 -Ibench -x cu bench/experiments/small_m_floor.cu -o small_m_floor
// Variants of the small_m kernel (kernels/gemm_small_m.hpp): its block shape (m16 atoms of weight rows,
// warps, k-steps per chunk) and its split-K factor. (A first run also loaded the first chunk's weights
// into registers before the dependent-launch wait: no faster with the shapes the policy now picks.)
#include <cstdio>
#include <fusekit/fusekit.hpp>
#include "gpu_timing.hpp"
using namespace fusekit;
using namespace fusekit::bench;
using Impl = OpImpl<op::Gemm, HipBackend>;

// Reads n16 16-byte vectors, kU per thread all in flight, and keeps them alive with a test that never holds.
template <int kU>
__global__ void __launch_bounds__(256) read_floor(const uint4* w, std::size_t n16, unsigned* out) {
  gpu::wait_for_prior_grid();
  const std::size_t base = static_cast<std::size_t>(blockIdx.x) * kU * 256 + threadIdx.x;
  uint4 a[kU];
#pragma unroll
  for (int u = 0; u < kU; ++u) a[u] = base + u * 256 < n16 ? __ldcs(w + base + u * 256) : make_uint4(0, 0, 0, 0);
  gpu::allow_dependent_launch();
  unsigned x = 0;
#pragma unroll
  for (int u = 0; u < kU; ++u) x ^= a[u].x ^ a[u].y ^ a[u].z ^ a[u].w;
  if (x == 0x9E3779B9u) out[blockIdx.x] = x;
}

int main() {
  hip::Stream s;
  const auto& dev = s.device();
  std::printf("GPU: %s, %d SMs\n", dev.name.c_str(), dev.multiprocessors);
  constexpr index_t M = 11;
  DeviceTensor<unsigned, 1> sink(Shape<1>{1 << 16}, s);
  for (auto [N, K] : {std::pair<index_t, index_t>{2560, 1024}, {8192, 1024}, {1024, 4096}, {1024, 2048}, {2048, 2048},
                      {32768, 2048}}) {
    const double wbytes = 2.0 * N * K;
    const int sets = sets_for(static_cast<std::size_t>(wbytes), dev);
    std::vector<DeviceTensor<bfloat16, 2>> w, x, y;
    for (int i = 0; i < sets; ++i) {
      w.push_back(pattern_tensor<bfloat16, 2>(s, {N, K}, 100 + i));
      x.push_back(pattern_tensor<bfloat16, 2>(s, {M, K}, 200 + i));
      y.emplace_back(Shape<2>{M, N}, s);
    }
    DeviceTensor<bfloat16, 2> ref({M, N}, s);
    gemm(s, ref, x[0], transposed(w[0]));
    const auto href = to_host(s, ref);
    std::printf("-- %lldx%lldx%lld bf16, weights %.1f MB, %d sets\n", static_cast<long long>(M), static_cast<long long>(N),
                static_cast<long long>(K), wbytes / 1e6, sets);
    auto row = [&](const char* name, auto launch, bool check) {
      double md = 0;
      if (check) {
        FUSEKIT_GPU_CHECK(gpu::memset_async(y[0].data(), 0xff, M * N * 2, s.get()));
        launch(0);
        const auto h = to_host(s, y[0]);
        for (index_t i = 0; i < M * N; ++i)
          md = std::max(md, std::abs(double(to_float(h.data()[i])) - double(to_float(href.data()[i]))) /
                                (1.0 + std::abs(double(to_float(href.data()[i])))));
      }
      const Timing t = time_us(s, sets, 100, launch);
      std::printf("%-44s stream %6.2f  graph %6.2f us  %6.0f GB/s%s", name, t.median_us, t.graph_us,
                  wbytes / (std::min(t.median_us, t.graph_us) * 1e3), check ? "" : "\n");
      if (check) std::printf("  max rel diff %.3g%s\n", md, md > 0.02 || std::isnan(md) ? "  WRONG" : "");
    };
    auto params = [&](int i) {
      return GemmParams<bfloat16, bfloat16, Epilogue<>>{detail::gemm_operand(x[i].view().as_const()),
                                                        detail::gemm_operand(transposed(w[i].view().as_const())),
                                                        detail::gemm_operand(y[i].view()), 1, M, N, K, N, 1.f, 0.f,
                                                        Epilogue<>{}};
    };
    for (int round = 0; round < 2; ++round) {
      std::printf("round %d\n", round);
      row("library gemm (policy)", [&](int i) { gemm(s, y[i], x[i], transposed(w[i])); }, true);
      auto copy = [&](int i) {
        FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(y[i].data(), w[i].data(), static_cast<std::size_t>(M * N * 2), s.get()));
      };
      (void)copy;
      auto floor = [&]<int U>(const char* name) {
        const std::size_t n16 = static_cast<std::size_t>(wbytes / 16);
        const unsigned grid = static_cast<unsigned>((n16 + U * 256 - 1) / (U * 256));
        row(name, [&, grid](int i) {
          hip::launch_dependent(name, read_floor<U>, dim3(grid), dim3(256), 0, s,
                                reinterpret_cast<const uint4*>(w[i].data()), n16, sink.data());
        }, false);
      };
      floor.template operator()<2>("read floor, 2 x 16 B per thread");
      floor.template operator()<4>("read floor, 4 x 16 B per thread");
      floor.template operator()<8>("read floor, 8 x 16 B per thread");
      auto variant = [&]<class Sh>(Sh, const char* shape) {
        for (int splits : {0, 1, 2, 4}) {
          const std::string name = fmt::format("small_m {} splits {}", shape, splits == 0 ? std::string("policy") : std::to_string(splits));
          row(name.c_str(), [&, splits](int i) {
            Impl::launch_small_m<void, Sh>(s, params(i), splits, GemmRowNorm<bfloat16>{});
          }, true);
        }
      };
      variant(kernels::SmallMShape<1, 8, 4>{}, "a1 w8 s4 (shape 0)");
      variant(kernels::SmallMShape<1, 4, 4>{}, "a1 w4 s4 (shape 1)");
      variant(kernels::SmallMShape<2, 8, 4>{}, "a2 w8 s4 (before)");
      variant(kernels::SmallMShape<2, 4, 4>{}, "a2 w4 s4");
      variant(kernels::SmallMShape<2, 8, 2>{}, "a2 w8 s2");
      variant(kernels::SmallMShape<1, 2, 4>{}, "a1 w2 s4");
      variant(kernels::SmallMShape<1, 4, 2>{}, "a1 w4 s2");
    }
  }
}
