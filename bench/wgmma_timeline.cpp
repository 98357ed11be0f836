// Where a wgmma GEMM block's time goes: every block of one launch records when it reaches the kernel's
// probes (kernels/gemm_sm90.hpp: 0 entry, 1 set up, 2 first stage landed, 3 MMAs done, 4 stored), and
// this prints, per shape, the median of each phase, the launch's span and how the blocks' start times
// fall into waves. NVIDIA sm_90a only (elsewhere it says so and exits).
//   fusekit_wgmma_timeline [--row TEXT]
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fusekit/backend/hip/vendor.hpp>  // the GPU runtime (blockIdx, ...) before the probes; the kernels after

namespace wgmma_timeline {
constexpr int kMaxBlocks = 8192, kPoints = 5;
__device__ std::int64_t stamp_ns[kMaxBlocks * kPoints];
__device__ std::int64_t stamp_clk[kMaxBlocks * kPoints];
__device__ std::int32_t stamp_sm[kMaxBlocks];

__device__ inline void probe(int point) {
#if defined(__CUDA_ARCH__)
  if (threadIdx.x != 0) return;
  const unsigned b = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  if (b >= kMaxBlocks) return;
  long long ns;
  int sm;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(ns));
  asm volatile("mov.u32 %0, %%smid;" : "=r"(sm));
  stamp_ns[b * kPoints + point] = ns;
  stamp_clk[b * kPoints + point] = clock64();
  stamp_sm[b] = sm;
#else
  (void)point;
#endif
}

__global__ void read_stamps(std::int64_t* ns, std::int64_t* clk, std::int32_t* sm) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < kMaxBlocks * kPoints; i += gridDim.x * blockDim.x) {
    ns[i] = stamp_ns[i], clk[i] = stamp_clk[i];
    stamp_ns[i] = 0, stamp_clk[i] = 0;
    if (i < kMaxBlocks) sm[i] = stamp_sm[i];
  }
}
}  // namespace wgmma_timeline

#define FUSEKIT_WGMMA_TRACE(point) ::wgmma_timeline::probe(point)

#include <fusekit/fusekit.hpp>

#include "gpu_timing.hpp"

using namespace fusekit;
using namespace fusekit::bench;

int main(int argc, char** argv) {
  std::string only;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--row" && i + 1 < argc) only = argv[++i];
  hip::Stream s;
  if (s.device().arch != "sm_90") {
    fmt::print("fusekit_wgmma_timeline: the wgmma kernel needs sm_90a; this GPU is {}\n", s.device().arch);
    return 0;
  }
  fmt::print("GPU: {}\n", s.device().name);
  fmt::print("{:<44} {:>6} {:>8} {:>8} | {:>7} {:>7} {:>7} {:>7} | {:>8} {:>8} {:>6}\n", "row (block phases: median us)", "blocks",
             "event us", "span us", "setup", "fill", "mma", "store", "start p50", "start max", "late");
  using T = bfloat16;
  DeviceTensor<std::int64_t, 1> ns({wgmma_timeline::kMaxBlocks * wgmma_timeline::kPoints}, s);
  DeviceTensor<std::int64_t, 1> clk({wgmma_timeline::kMaxBlocks * wgmma_timeline::kPoints}, s);
  DeviceTensor<std::int32_t, 1> sm({wgmma_timeline::kMaxBlocks}, s);
  auto row = [&](const std::string& name, index_t M, index_t N, index_t K, int kind, int tile) {
    if (!only.empty() && name.find(only) == std::string::npos) return;
    const index_t n_out = kind == 1 ? N / 2 : N;
    const auto x = pattern_tensor<T, 2>(s, {M, K}, 1);
    const auto w = pattern_tensor<T, 2>(s, {N, K}, 2);
    DeviceTensor<T, 2> y({M, n_out}, s);
    // kind 2: a Gemma Q|K|V projection (8 q heads, 1 k, 1 v of 256): RoPE on q and k, k and v into a cache
    constexpr index_t D = 256;
    HostTensor<std::int32_t, 1> hpos({M});
    for (index_t i = 0; i < M; ++i) hpos(i) = static_cast<std::int32_t>(i);
    const auto pos = to_device(s, hpos);
    DeviceTensor<T, 3> kc({M, 1, D}, s), vc({M, 1, D}, s);
    const GemmOptions opt{1.f, 0.f, GemmPath::wgmma, tile};
    auto call = [&] {
      if (kind == 1) gemm(s, y, x, transposed(w), make_epilogue(epi::gate<act::GeluTanh>(GateLayout::concatenated)), opt);
      else if (kind == 2)
        gemm(s, y, x, transposed(w),
             make_epilogue(epi::rope(pos, D, 0, N - D, RopeOptions{.base = 10000.f, .layout = RopeLayout::interleaved}),
                           epi::store_heads(kc, N - 2 * D), epi::store_heads(vc, N - D)),
             opt);
      else gemm(s, y, x, transposed(w), opt);
    };
    const Timing t = time_us(s, 1, 30, [&](int) { call(); });
    wgmma_timeline::read_stamps<<<64, 256, 0, s.get()>>>(ns.data(), clk.data(), sm.data());  // clears them
    call();  // the traced launch
    wgmma_timeline::read_stamps<<<64, 256, 0, s.get()>>>(ns.data(), clk.data(), sm.data());
    FUSEKIT_GPU_CHECK(gpu::get_last_error());
    const auto hns = to_host(s, ns), hclk = to_host(s, clk);
    constexpr int P = wgmma_timeline::kPoints;
    std::vector<int> blocks;
    for (int b = 0; b < wgmma_timeline::kMaxBlocks; ++b)
      if (hns(b * P) != 0 && hns(b * P + 4) != 0) blocks.push_back(b);
    if (blocks.empty()) return fmt::print("{:<44} no probes recorded\n", name);
    std::int64_t t0 = INT64_MAX, t1 = 0, first_end = INT64_MAX;
    double clk_sum = 0, ns_sum = 0;
    for (int b : blocks) {
      t0 = std::min(t0, hns(b * P)), t1 = std::max(t1, hns(b * P + 4)), first_end = std::min(first_end, hns(b * P + 4));
      clk_sum += static_cast<double>(hclk(b * P + 4) - hclk(b * P)), ns_sum += static_cast<double>(hns(b * P + 4) - hns(b * P));
    }
    const double ghz = clk_sum / ns_sum;  // cycles per ns, from the blocks' own spans
    auto median_phase = [&](int a, int z) {
      std::vector<double> v;
      for (int b : blocks) v.push_back(static_cast<double>(hclk(b * P + z) - hclk(b * P + a)) / ghz / 1e3);
      std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
      return v[v.size() / 2];
    };
    std::vector<double> starts;
    int late = 0;  // blocks that started after the first block finished: a second wave
    for (int b : blocks) {
      starts.push_back(static_cast<double>(hns(b * P) - t0) / 1e3);
      late += hns(b * P) > first_end;
    }
    std::sort(starts.begin(), starts.end());
    fmt::print("{:<44} {:>6} {:>8.2f} {:>8.2f} | {:>7.2f} {:>7.2f} {:>7.2f} {:>7.2f} | {:>8.2f} {:>8.2f} {:>6}\n", name,
               blocks.size(), std::min(t.median_us, t.graph_us), static_cast<double>(t1 - t0) / 1e3, median_phase(0, 1),
               median_phase(1, 2), median_phase(2, 3), median_phase(3, 4), starts[starts.size() / 2], starts.back(), late);
  };
  for (int tile = 0; tile < kernels::wgmma_tile_count; ++tile) {
    const std::string tl = fmt::format(" tile {}", tile);
    row("788x2048x2048" + tl, 788, 2048, 2048, 0, tile);
    row("788x2560x2048" + tl, 788, 2560, 2048, 0, tile);
    row("788x2560x2048 rope+kv" + tl, 788, 2560, 2048, 2, tile);
    row("788x2048x16384" + tl, 788, 2048, 16384, 0, tile);
    row("788x32768x2048 geglu" + tl, 788, 32768, 2048, 1, tile);
    row("768x3456x1152" + tl, 768, 3456, 1152, 0, tile);
    row("768x4304x1152" + tl, 768, 4304, 1152, 0, tile);
    row("768x1152x4304" + tl, 768, 1152, 4304, 0, tile);
    row("8192x8192x8192" + tl, 8192, 8192, 8192, 0, tile);
  }
  return 0;
}
