// Experiment (not built by CMake): the Pi0 decode step's attention (11 query rows x 8 heads on 1 KV head,
// head dim 256, 799 cached keys, the block mask), every variant timed in one run beside the library's
// choice and checked against its output. Variants are tile configurations of the matrix-core kernel
// (kernels::AttnMmaConfig: warps, 16-row atoms, keys per tile, key warps, stages, column warps) and key
// split counts. (A first run, twenty-seventh session, also timed 16-key tiles, the 4-warp decode tile with
// key warps and the plain 64-row tile: all slower than the column-warp tiles below. Alone, smaller
// column-warp tiles are faster; inside pi0-policy the 48-row tile made the denoise slower: see
// docs/performance.md before trusting this loop.) Built by hand:
//   nvcc -std=c++20 -O3 -arch=sm_90a --expt-relaxed-constexpr -DFMT_HEADER_ONLY=1 -Iinclude -I.deps/usr/include \
//     -I.deps/usr/include/eigen3 -Ibench -x cu bench/experiments/decode_attention.cu -o decode_attention
#include <cstdio>
#include <fusekit/fusekit.hpp>
#include "gpu_timing.hpp"
using namespace fusekit;
using namespace fusekit::bench;
using Impl = OpImpl<op::Attention, HipBackend>;
using T = bfloat16;

int main() {
  hip::Stream s;
  const auto& dev = s.device();
  std::printf("GPU: %s, %d SMs\n", dev.name.c_str(), dev.multiprocessors);
  constexpr index_t Sq = 11, Skv = 799, Hq = 8, Hkv = 1, D = 256;
  const int sets = 8;
  std::vector<DeviceTensor<T, 4>> q, k, v, o;
  for (int i = 0; i < sets; ++i) {
    q.push_back(pattern_tensor<T, 4>(s, {1, Sq, Hq, D}, 100 + i));
    k.push_back(pattern_tensor<T, 4>(s, {1, Skv, Hkv, D}, 200 + i));
    v.push_back(pattern_tensor<T, 4>(s, {1, Skv, Hkv, D}, 300 + i));
    o.emplace_back(Shape<4>{1, Sq, Hq, D}, s);
  }
  HostTensor<std::int32_t, 2> ends({1, Sq});
  for (index_t i = 0; i < Sq; ++i) ends(0, i) = static_cast<std::int32_t>(i == 0 ? Skv - Sq + 1 : Skv);
  const auto dends = to_device(s, ends);
  AttentionMasks<DeviceSpace> masks;
  masks.kv_end = dends.view();
  DeviceTensor<T, 4> ref({1, Sq, Hq, D}, s);
  attention(s, ref, q[0], k[0], v[0], masks);
  const auto href = to_host(s, ref);
  auto params = [&](int i) {
    auto p = detail::attention_params<hip::Stream>("attention", o[i].view(), q[i].view().as_const(), k[i].view().as_const(),
                                                   v[i].view().as_const(), AttentionOptions{});
    p.batch = 1, p.q_len = Sq, p.kv_len = Skv;
    p.kv_end = dends.data(), p.kv_end_batch_stride = Sq, p.kv_end_token_stride = 1;
    return p;
  };
  auto row = [&](const std::string& name, auto launch) {
    FUSEKIT_GPU_CHECK(gpu::memset_async(o[0].data(), 0xff, Sq * Hq * D * 2, s.get()));
    launch(0);
    const auto h = to_host(s, o[0]);
    double md = 0;
    for (index_t i = 0; i < Sq * Hq * D; ++i)
      md = std::max(md, std::abs(double(to_float(h.data()[i])) - double(to_float(href.data()[i]))));
    const Timing t = time_us(s, sets, 100, launch);
    std::printf("%-60s stream %6.2f  graph %6.2f us  max|diff| %.3g%s\n", name.c_str(), t.median_us, t.graph_us, md,
                md > 0.02 || std::isnan(md) ? "  WRONG" : "");
  };
  auto cfg = [&]<class C>(C, const char* what, std::initializer_list<int> splits) {
    for (int sp : splits)
      for (auto comb : {AttentionSplitCombine::automatic, AttentionSplitCombine::workspace}) {
        if (comb == AttentionSplitCombine::workspace && (sp == 0 || sp > kernels::attn_max_cluster_splits)) continue;
        const AttentionOptions opt{.kv_splits = sp, .combine = comb};
        row(fmt::format("{} BM {} splits {}{}", what, C::BM, sp == 0 ? std::string("policy") : std::to_string(sp),
                        comb == AttentionSplitCombine::workspace ? " workspace" : ""),
            [&, opt](int i) { Impl::run_mma<C>(s, params(i), opt); });
      }
  };
  for (int round = 0; round < 2; ++round) {
    std::printf("-- pi0 decode [1, 11, 8/1, 256] kv 799 block mask, bf16, round %d\n", round);
    row("library attention (policy)", [&](int i) { attention(s, o[i], q[i], k[i], v[i], masks); });
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 32, 1, 2, 2>{}, "w6 bn32 colw2", {0, 13});
    cfg(kernels::AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 2>{}, "w8 bn32 colw2 (library)", {0, 13});
    cfg(kernels::AttnMmaConfig<T, 256, 4, 1, 32, 1, 2, 2>{}, "w4 bn32 colw2", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 2, 1, 32, 1, 2, 2>{}, "w2 bn32 colw2", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 8, 1, 32, 1, 2, 4>{}, "w8 bn32 colw4", {0, 13, 25});
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 16, 1, 2, 2>{}, "w6 bn16 colw2", {0, 25, 32});
    cfg(kernels::AttnMmaConfig<T, 256, 6, 1, 32, 1, 3, 2>{}, "w6 bn32 colw2 3 stages", {0});
    cfg(kernels::AttnMmaConfig<T, 256, 12, 1, 32, 1, 2, 2>{}, "w12 bn32 colw2", {0});
  }
}
