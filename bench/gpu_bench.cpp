// One GPU benchmark executable for fusekit's ops. Device events around every repetition, warm-up, the
// median of many repetitions, inputs rotated across sets larger than L2 so the cache does not flatter,
// and the device-to-device copy bandwidth measured in the same run as the yardstick.
//   fusekit_gpu_bench [--json FILE] [--reps N] [--only ops|gemm|conv] [--row TEXT] [--hot]
// --row: only the GEMM and conv rows whose "op shape" contains TEXT (e.g. for a profiler)
// --hot: the GEMM rows run one input set over and over (what a GEMM gains from weights already in L2)
#include <algorithm>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <fusekit/fusekit.hpp>

#include "gpu_timing.hpp"

using namespace fusekit;
using namespace fusekit::bench;

namespace {

struct Result {
  std::string name, shape, dtype;
  double median_us, min_us, graph_us, gbps, pct_copy;  // GB/s and % of copy from the faster launch mode
  double bytes;
  double tflops = 0;  // compute-bound ops (GEMM): TFLOP/s from the faster launch mode
};

// The elementwise rows kernel launched directly with kVec elements per vector and kUnroll vectors per
// thread (the library's choice is in kernels/elementwise.hpp), for a dense tensor of n elements.
template <int kVec, int kUnroll, class Op, class O, class I>
void rows_kernel(hip::Stream& s, index_t n, const Op& op, O* out, const I* in) {
  kernels::launch_rows<float, kVec, kUnroll>(s, n / kVec, n / kVec, op, Operand<O, 1>{out, {1}, n},
                                              Operand<const I, 1>{in, {1}, n});
}
// The same for out = f(gate) * up from one [rows, 2n] tensor.
template <int vec, class Act, class T>
void gated_kernel(hip::Stream& s, index_t rows, index_t n, const Act& f, T* out, const T* gu) {
  kernels::launch_rows<float, vec, 1>(s, rows * n / vec, n / vec, detail::GatedBy<Act>{f},
                                             Operand<T, 2>{out, {n, 1}, n}, Operand<const T, 2>{gu, {2 * n, 1}, 2 * n},
                                             Operand<const T, 2>{gu + n, {2 * n, 1}, 2 * n});
}

}  // namespace

namespace {
std::string row_filter;  // --row
bool hot_inputs = false;  // --hot: the GEMM rows reuse one input set (weights stay in L2 when they fit)
bool row_selected(const std::string& name, const std::string& shape) {
  return row_filter.empty() || (name + " " + shape).find(row_filter) != std::string::npos;
}
}  // namespace

#include "gemm_bench.hpp"
#include "conv_bench.hpp"

int main(int argc, char** argv) try {
  std::string json, only;
  int reps = 50;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::stoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc) only = argv[++i];
    else if (a == "--row" && i + 1 < argc) row_filter = argv[++i];
    else if (a == "--hot") hot_inputs = true;
    else fail("unknown argument '{}' (usage: fusekit_gpu_bench [--json FILE] [--reps N] [--only ops|gemm|conv] [--row TEXT] [--hot])", a);
  }
  if (hip::device_count() == 0) fail("no GPU visible");
  hip::Stream s;
  const auto& dev = s.device();
  std::vector<Result> results;

  // Yardstick: device-to-device copy, bytes read + written.
  double copy_gbps = 0;
  {
    const std::size_t n = std::size_t{1} << 30;
    DeviceTensor<uint8_t, 1> a({static_cast<index_t>(n)}, s), b({static_cast<index_t>(n)}, s);
    FUSEKIT_GPU_CHECK(gpu::memset_async(a.data(), 1, n, s.get()));
    const Timing t = time_us(
        s, 1, 20, [&](int) { FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(b.data(), a.data(), n, s.get())); }, 2);
    copy_gbps = 2.0 * static_cast<double>(n) / (std::min(t.median_us, t.graph_us) * 1e3);
    results.push_back({"d2d copy", "1 GiB", "u8", t.median_us, t.min_us, t.graph_us, copy_gbps, 100.0, 2.0 * n});
  }

  if (only.empty() || only == "ops") {
  // The same bytes as the RMSNorm benchmark (51.6 MB read + 51.6 MB written) through a copy: what a
  // memory-bound op of this size can reach, ramp-up and tail included.
  {
    const std::size_t n = 6304 * 2048 * 2 * 2;
    DeviceTensor<uint8_t, 1> a({static_cast<index_t>(n)}, s), b({static_cast<index_t>(n)}, s);
    FUSEKIT_GPU_CHECK(gpu::memset_async(a.data(), 1, n, s.get()));
    const Timing t =
        time_us(s, 1, 50, [&](int) { FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(b.data(), a.data(), n, s.get())); });
    const double gbps = 2.0 * static_cast<double>(n) / (std::min(t.median_us, t.graph_us) * 1e3);
    results.push_back({"d2d copy (rmsnorm's bytes)", "51.6 MB", "u8", t.median_us, t.min_us, t.graph_us, gbps,
                       100.0 * gbps / copy_gbps, 2.0 * n});
  }

  auto bench_rmsnorm = [&](index_t rows, index_t cols, bool residual, KernelPath path, const char* label,
                           int block = 0) {
    using T = bfloat16;
    const std::size_t elems = static_cast<std::size_t>(rows * cols);
    const double bytes = static_cast<double>(elems * sizeof(T)) * (residual ? 4 : 2) + cols * sizeof(T);
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<T, 2>> x, r, y, sum;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<T, 2>(s, {rows, cols}, 2 * i));
      r.push_back(pattern_tensor<T, 2>(s, {rows, cols}, 2 * i + 1));
      y.emplace_back(Shape<2>{rows, cols}, s);
      sum.emplace_back(Shape<2>{rows, cols}, s);
    }
    auto w = pattern_tensor<T, 1>(s, {cols}, 99);
    const RmsNormOptions opt{1e-6f, true, path, block};
    const Timing t = time_us(s, sets, reps, [&](int i) {
      if (residual) rmsnorm(s, y[i], sum[i], x[i], r[i], w, opt);
      else rmsnorm(s, y[i], x[i], w, opt);
    });
    const double gbps = bytes / (std::min(t.median_us, t.graph_us) * 1e3);
    results.push_back({label, fmt::format("{}x{}", rows, cols), "bf16", t.median_us, t.min_us, t.graph_us, gbps,
                       100.0 * gbps / copy_gbps, bytes});
  };
  bench_rmsnorm(6304, 2048, true, KernelPath::automatic, "rmsnorm+residual");
  bench_rmsnorm(6304, 2048, true, KernelPath::vectorized, "rmsnorm+residual (128 threads x 2)", 128);
  bench_rmsnorm(6304, 2048, true, KernelPath::generic, "rmsnorm+residual (generic)");
  bench_rmsnorm(6304, 2048, false, KernelPath::automatic, "rmsnorm");
  bench_rmsnorm(788, 2048, true, KernelPath::automatic, "rmsnorm+residual");
  bench_rmsnorm(6304, 16384, true, KernelPath::automatic, "rmsnorm+residual");
  bench_rmsnorm(11, 2048, true, KernelPath::automatic, "rmsnorm+residual");

  // One op over rotated input sets: fn(i) runs set i; `bytes` is one call's traffic.
  auto bench_op = [&](const char* name, const std::string& shape, const char* dtype, double bytes, int sets,
                      const std::function<void(int)>& fn) {
    const Timing t = time_us(s, sets, reps, fn);
    const double gbps = bytes / (std::min(t.median_us, t.graph_us) * 1e3);
    results.push_back({name, shape, dtype, t.median_us, t.min_us, t.graph_us, gbps, 100.0 * gbps / copy_gbps, bytes});
  };
  {  // SigLIP LayerNorm: 3 images x 256 tokens, width 1152
    const index_t rows = 768, cols = 1152;
    const double bytes = 2.0 * rows * cols * 2 + 2.0 * cols * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<bfloat16, 2>> x, y;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<bfloat16, 2>(s, {rows, cols}, 200 + i));
      y.emplace_back(Shape<2>{rows, cols}, s);
    }
    auto w = pattern_tensor<bfloat16, 1>(s, {cols}, 300);
    auto b = pattern_tensor<bfloat16, 1>(s, {cols}, 301);
    bench_op("layernorm", "768x1152", "bf16", bytes, sets, [&](int i) { layernorm(s, y[i], x[i], w, b); });
    bench_op("layernorm (128 threads x 2)", "768x1152", "bf16", bytes, sets,
             [&](int i) { layernorm(s, y[i], x[i], w, b, {1e-6f, KernelPath::vectorized, 128}); });
  }
  {  // Gemma GeGLU: gelu_tanh(gate) * up from the fused [788, 2 x 16384] projection
    const index_t rows = 788, n = 16384;
    const double bytes = 3.0 * rows * n * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<bfloat16, 2>> gu, y;
    for (int i = 0; i < sets; ++i) {
      gu.push_back(pattern_tensor<bfloat16, 2>(s, {rows, 2 * n}, 400 + i));
      y.emplace_back(Shape<2>{rows, n}, s);
    }
    bench_op("gelu_tanh*mul [gate|up]", "788x2x16384", "bf16", bytes, sets,
             [&](int i) { gated(s, y[i], gu[i], act::GeluTanh{}); });
  }
  // A copy of `bytes` (half read, half written) through cudaMemcpyAsync: the ceiling for an op of that size.
  auto bench_copy_of = [&](const char* what, double bytes) {
    const auto n = static_cast<index_t>(bytes / 2);
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<uint8_t, 1>> a, b;
    for (int i = 0; i < sets; ++i) {
      a.emplace_back(Shape<1>{n}, s);
      b.emplace_back(Shape<1>{n}, s);
      FUSEKIT_GPU_CHECK(gpu::memset_async(a.back().data(), 1, static_cast<std::size_t>(n), s.get()));
    }
    bench_op("d2d copy of the same bytes", what, "u8", bytes, sets, [&](int i) {
      FUSEKIT_GPU_CHECK(gpu::memcpy_d2d_async(b[i].data(), a[i].data(), static_cast<std::size_t>(n), s.get()));
    });
  };
  bench_copy_of("768x1152", 2.0 * 768 * 1152 * 2);
  {  // KataGo trunk activation: Mish over [256, 384, 19, 19] NHWC fp16 (dense, so a flat view)
    const index_t n = index_t{256} * 384 * 19 * 19;
    const double bytes = 2.0 * n * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<fusekit::half, 1>> x, y;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<fusekit::half, 1>(s, {n}, 500 + i));
      y.emplace_back(Shape<1>{n}, s);
    }
    const std::string shape = "256x384x19x19";
    bench_op("mish", shape, "f16", bytes, sets, [&](int i) { activation(s, y[i], x[i], act::Mish{}); });
    auto variants = [&](const char* name, auto f) {
      bench_op(fmt::format("{} (8 x 1 per thread)", name).c_str(), shape, "f16", bytes, sets,
               [&](int i) { rows_kernel<8, 1>(s, n, f, y[i].data(), x[i].data()); });
      bench_op(fmt::format("{} (16 x 1 per thread)", name).c_str(), shape, "f16", bytes, sets,
               [&](int i) { rows_kernel<16, 1>(s, n, f, y[i].data(), x[i].data()); });
    };
    variants("mish", act::Mish{});
    variants("identity", act::Identity{});

    // NormAct + Mish: x * scale[c] + bias[c] -> mish -> * mask[n, h, w], NHWC (the KataGo trunk's fused op)
    const index_t N = 256, C = 384, H = 19, W = 19;
    auto scale_c = pattern_tensor<fusekit::half, 1>(s, {C}, 600);
    auto bias_c = pattern_tensor<fusekit::half, 1>(s, {C}, 601);
    HostTensor<fusekit::half, 4> hm({N, 1, H, W});
    for (index_t i = 0; i < hm.numel(); ++i) hm.data()[i] = fusekit::half(i % 7 == 0 ? 0.f : 1.f);
    auto mask = to_device(s, hm);
    const double na_bytes = bytes + static_cast<double>(N * H * W * 2 + 4 * C);
    auto nhwc = [&](DeviceTensor<fusekit::half, 1>& t) { return image_view<DeviceSpace>(t.data(), {N, C, H, W}, Layout::nhwc); };
    bench_op("norm_act mish (NHWC, mask)", shape, "f16", na_bytes, sets,
             [&](int i) { norm_act(s, nhwc(y[i]), nhwc(x[i]), scale_c, bias_c, mask, act::Mish{}); });
    // the pixel kernel with one, two or four vectors (8/16/32 channels) per thread, launched directly
    auto pixel_params = [&](int i) {
      const Shape<4> sh{N, C, H, W};
      const Strides<4> st = image_strides(sh, Layout::nhwc);
      return NormActParams<fusekit::half, fusekit::half>{y[i].data(), x[i].data(), mask.data(), scale_c.data(),
                                                        bias_c.data(), sh, st, st, Strides<4>{H * W, H * W, W, 1}, 1, 1};
    };
    bench_op("norm_act mish (NHWC, mask, 8 per thread)", shape, "f16", na_bytes, sets,
             [&](int i) { kernels::launch_norm_act_pixel<1>(s, pixel_params(i), act::Mish{}); });
    bench_op("norm_act mish (NHWC, mask, 16 per thread)", shape, "f16", na_bytes, sets,
             [&](int i) { kernels::launch_norm_act_pixel<2>(s, pixel_params(i), act::Mish{}); });
    bench_op("norm_act mish (NHWC, mask, 32 per thread)", shape, "f16", na_bytes, sets,
             [&](int i) { kernels::launch_norm_act_pixel<4>(s, pixel_params(i), act::Mish{}); });
    bench_op("norm_act relu (NHWC, mask)", shape, "f16", na_bytes, sets,
             [&](int i) { norm_act(s, nhwc(y[i]), nhwc(x[i]), scale_c, bias_c, mask, act::Relu{}); });
    auto nchw = [&](DeviceTensor<fusekit::half, 1>& t) { return image_view<DeviceSpace>(t.data(), {N, C, H, W}, Layout::nchw); };
    bench_op("norm_act mish (NCHW, mask)", shape, "f16", na_bytes, sets,
             [&](int i) { norm_act(s, nchw(y[i]), nchw(x[i]), scale_c, bias_c, mask, act::Mish{}); });
    DeviceTensor<float, 2> pooled({N, 3 * C}, s);
    bench_op("global_pool katago (NHWC, mask)", shape, "f16", bytes / 2, sets,
             [&](int i) { global_pool(s, pooled, nhwc(x[i]), mask, PoolKind::katago); });
  }
  {  // GeGLU variants on the same shape as above
    const index_t rows = 788, n = 16384;
    const double bytes = 3.0 * rows * n * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<bfloat16, 2>> gu, y;
    for (int i = 0; i < sets; ++i) {
      gu.push_back(pattern_tensor<bfloat16, 2>(s, {rows, 2 * n}, 700 + i));
      y.emplace_back(Shape<2>{rows, n}, s);
    }
    bench_op("gelu_tanh*mul (8 x 1 per thread)", "788x2x16384", "bf16", bytes, sets,
             [&](int i) { gated_kernel<8>(s, rows, n, act::GeluTanh{}, y[i].data(), gu[i].data()); });
    bench_op("identity*mul (8 x 1 per thread)", "788x2x16384", "bf16", bytes, sets,
             [&](int i) { gated_kernel<8>(s, rows, n, act::Identity{}, y[i].data(), gu[i].data()); });
  }
  {  // Gemma-2B prefix: RoPE on q [788, 8, 256] and k [788, 1, 256], in place; and k, v into a KV cache
    const index_t T = 788, D = 256;
    const double bytes = 2.0 * T * 9 * D * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<bfloat16, 3>> q, k, v, kc, vc;
    for (int i = 0; i < sets; ++i) {
      q.push_back(pattern_tensor<bfloat16, 3>(s, {T, 8, D}, 800 + i));
      k.push_back(pattern_tensor<bfloat16, 3>(s, {T, 1, D}, 850 + i));
      v.push_back(pattern_tensor<bfloat16, 3>(s, {T, 1, D}, 900 + i));
      kc.emplace_back(Shape<3>{T, 1, D}, s);
      vc.emplace_back(Shape<3>{T, 1, D}, s);
    }
    HostTensor<std::int64_t, 1> hp({T});
    for (index_t t = 0; t < T; ++t) hp(t) = t;
    auto pos = to_device(s, hp);
    bench_op("rope q+k in place", "788x(8+1)x256", "bf16", bytes, sets, [&](int i) { rope_qk(s, q[i], k[i], pos); });
    bench_op("rope q, k->cache, v->cache", "788x(8+1+1)x256", "bf16", bytes + 2.0 * T * D * 2, sets,
             [&](int i) { rope_qkv_to_cache(s, q[i], k[i], v[i], pos, kc[i], vc[i]); });
    bench_copy_of("788x(8+1)x256", bytes);
  }
  {  // attention-score softmax of the Gemma prefix: [8 heads x 788 queries, 788 keys] bf16
    const index_t rows = 8 * 788, cols = 788;
    const double bytes = 2.0 * rows * cols * 2;
    const int sets = sets_for(static_cast<std::size_t>(bytes), dev);
    std::vector<DeviceTensor<bfloat16, 2>> x, y;
    for (int i = 0; i < sets; ++i) {
      x.push_back(pattern_tensor<bfloat16, 2>(s, {rows, cols}, 1000 + i));
      y.emplace_back(Shape<2>{rows, cols}, s);
    }
    bench_op("softmax", "6304x788", "bf16", bytes, sets, [&](int i) { softmax(s, y[i], x[i], {0.0625f}); });
    bench_op("softmax (256 threads per row)", "6304x788", "bf16", bytes, sets,
             [&](int i) { softmax(s, y[i], x[i], {0.0625f, false, 256}); });
    bench_op("softmax (1024 threads per row)", "6304x788", "bf16", bytes, sets,
             [&](int i) { softmax(s, y[i], x[i], {0.0625f, false, 1024}); });
    bench_copy_of("6304x788", bytes);
  }

  }
  if (only.empty() || only == "gemm") bench_gemms(s, reps, copy_gbps, results);
  if (only.empty() || only == "conv") bench_convs(s, reps, copy_gbps, results);

  fmt::print("GPU: {} ({}), {} SMs, L2 {} MiB | fusekit built for {} | {} reps, median\n", dev.name, dev.arch,
             dev.multiprocessors, dev.l2_bytes >> 20, gpu_vendor_name(), reps);
  fmt::print("{:<36} {:>18} {:>5} {:>10} {:>8} {:>9} {:>7} {:>7} {:>7}\n", "op", "shape", "dtype", "stream us",
             "min us", "graph us", "GB/s", "% copy", "TFLOP/s");
  for (const auto& r : results)
    fmt::print("{:<36} {:>18} {:>5} {:>10.2f} {:>8.2f} {:>9.2f} {:>7.0f} {:>6.1f}% {:>7.1f}\n", r.name, r.shape,
               r.dtype, r.median_us, r.min_us, r.graph_us, r.gbps, r.pct_copy, r.tflops);
  fmt::print("(stream us: calls launched one by one; graph us: the same calls replayed from a CUDA/HIP graph;\n"
             " GB/s and % copy use the faster of the two, against the 1 GiB copy's faster one)\n");
  if (!json.empty()) {
    std::FILE* f = std::fopen(json.c_str(), "w");
    if (!f) fail("cannot write {}", json);
    fmt::print(f, "{{\"gpu\": \"{}\", \"arch\": \"{}\", \"copy_gbps\": {:.1f}, \"results\": [\n", dev.name, dev.arch,
               copy_gbps);
    for (std::size_t i = 0; i < results.size(); ++i) {
      const auto& r = results[i];
      fmt::print(f, "  {{\"op\": \"{}\", \"shape\": \"{}\", \"dtype\": \"{}\", \"median_us\": {:.3f}, \"min_us\": {:.3f}, "
                 "\"graph_us\": {:.3f}, \"gbps\": {:.1f}, \"pct_copy\": {:.1f}, \"tflops\": {:.1f}}}{}\n",
                 r.name, r.shape, r.dtype, r.median_us, r.min_us, r.graph_us, r.gbps, r.pct_copy, r.tflops,
                 i + 1 < results.size() ? "," : "");
    }
    fmt::print(f, "]}}\n");
    std::fclose(f);
  }
  return 0;
} catch (const fusekit::Error& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}
