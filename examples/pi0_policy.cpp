// pi0-policy: one Pi0-shaped policy call at batch 1 (transformer/pi0.hpp): SigLIP over 3 camera images,
// the projector, Gemma-2B-shaped prefill over 788 tokens into the KV cache, then 10 denoising steps of the
// Gemma-300M-shaped action expert over 11 suffix tokens, Euler updates in fp32.
//
//   pi0-policy [--device gpu|cpu] [--weights FILE.safetensors[,FILE2...]] [--prefix P] [--layers N]
//              [--vision-layers N] [--vocab V] [--iters N] [--seed S] [--no-graph] [--json FILE]
//
// Default: random weights from a fixed seed (--vocab rows of embeddings: the lookup costs the same for any
// vocabulary). On the GPU (bf16) the call is captured once as a graph per stage and once whole, replayed
// --iters times after warm-up; per-stage and end-to-end medians come from device events. On the CPU (fp32)
// use --layers / --vision-layers to shorten the stacks for a quick run.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>

#include <fusekit/backend/cpu/context.hpp>
#include <fusekit/transformer/pi0.hpp>
#if FUSEKIT_GPUCC
#include <fusekit/backend/hip.hpp>
#include <fusekit/ops/transfer.hpp>
#endif

#include "args.hpp"

using namespace fusekit;
using namespace fusekit::transformer;

namespace {

const char* usage =
    "pi0-policy [--device gpu|cpu] [--weights FILE.safetensors[,FILE2...]] [--prefix P] [--layers N]\n"
    "           [--vision-layers N] [--vocab V] [--iters N] [--seed S] [--no-graph] [--json FILE]\n";

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> r;
  std::size_t at = 0;
  while (at <= s.size()) {
    const std::size_t c = s.find(',', at);
    r.push_back(s.substr(at, c - at));
    if (c == std::string::npos) break;
    at = c + 1;
  }
  return r;
}

struct Inputs {
  HostTensor<float, 4> images;
  HostTensor<std::int32_t, 2> lang;
  HostTensor<float, 2> state;
  HostTensor<float, 3> noise;
};

// Deterministic example inputs: smooth images in [-1, 1], a fixed prompt, a state, Gaussian-ish noise.
Inputs make_inputs(const Pi0Config& c, std::uint64_t seed) {
  Inputs in{HostTensor<float, 4>({c.cameras, c.vision.channels, c.vision.image, c.vision.image}),
            HostTensor<std::int32_t, 2>({1, c.lang_tokens}), HostTensor<float, 2>({1, c.action_dim}),
            HostTensor<float, 3>({1, c.horizon, c.action_dim})};
  for (index_t i = 0; i < in.images.numel(); ++i) in.images.data()[i] = static_cast<float>(std::sin(0.001 * double(i) + double(seed)));
  for (index_t i = 0; i < c.lang_tokens; ++i) in.lang(0, i) = static_cast<std::int32_t>((1000 + 37 * i) % c.vocab);
  for (index_t i = 0; i < c.action_dim; ++i) in.state(0, i) = static_cast<float>(0.1 * std::cos(double(i)));
  std::uint64_t z = seed * 0x9E3779B97F4A7C15ull;
  for (index_t i = 0; i < in.noise.numel(); ++i) {  // sum of 4 uniforms: roughly N(0, 1)
    double s = 0;
    for (int k = 0; k < 4; ++k) {
      z = z * 6364136223846793005ull + 1442695040888963407ull;
      s += static_cast<double>(z >> 11) * 0x1.0p-53 - 0.5;
    }
    in.noise.data()[i] = static_cast<float>(s * std::sqrt(3.0));
  }
  return in;
}

void print_actions(const HostTensor<float, 3>& a) {
  std::printf("actions [1, %lld, %lld], first 3 steps x first 6 dims:\n", static_cast<long long>(a.size(1)),
              static_cast<long long>(a.size(2)));
  for (index_t h = 0; h < std::min<index_t>(3, a.size(1)); ++h) {
    std::printf("  ");
    for (index_t d = 0; d < std::min<index_t>(6, a.size(2)); ++d) std::printf("%+.4f ", a(0, h, d));
    std::printf("\n");
  }
  double finite = 0;
  for (index_t i = 0; i < a.numel(); ++i) finite += std::isfinite(a.data()[i]) ? 1 : 0;
  FUSEKIT_CHECK(finite == double(a.numel()), "pi0-policy: {} of {} actions are not finite", a.numel() - index_t(finite), a.numel());
}

}  // namespace

int main(int argc, char** argv) try {
  const examples::Args args(argc, argv,
                            {{"device", FUSEKIT_GPUCC ? "gpu" : "cpu"}, {"weights", ""}, {"prefix", ""}, {"layers", "18"},
                             {"vision-layers", "27"}, {"vocab", "1024"}, {"iters", "20"}, {"seed", "1"},
                             {"no-graph", "false"}, {"json", ""}},
                            usage);
  Pi0Config cfg;
  cfg.prefix.layers = cfg.expert.layers = args.integer("layers");
  cfg.vision.layers = args.integer("vision-layers");
  std::unique_ptr<WeightSource> src;
  if (args["weights"].empty()) {
    cfg.vocab = args.integer("vocab");
    src = std::make_unique<RandomSource>(std::stoull(args["seed"]));
  } else {
    src = std::make_unique<SafeTensorsSource>(split(args["weights"]), args["prefix"]);
  }
  const Inputs in = make_inputs(cfg, std::stoull(args["seed"]));
  std::printf("pi0-policy: %s; SigLIP %lld layers over %lld images, prefix %lld tokens x %lld layers, %lld denoising steps "
              "over %lld suffix tokens\n",
              src->describe().c_str(), static_cast<long long>(cfg.vision.layers), static_cast<long long>(cfg.cameras),
              static_cast<long long>(cfg.prefix_len()), static_cast<long long>(cfg.prefix.layers),
              static_cast<long long>(cfg.steps), static_cast<long long>(cfg.suffix_len()));
  const std::string device = args["device"];
  const int iters = std::max(1, args.integer("iters"));

  if (device == "cpu") {
    cpu::Context ctx;
    std::printf("loading weights (fp32, host)...\n");
    const auto w = load_pi0<float>(ctx, cfg, *src);
    Pi0Policy<float, HostSpace> p(ctx, w, 1);
    p.set_inputs(ctx, in.images, in.lang, in.state, in.noise);
    using clock = std::chrono::steady_clock;
    auto ms = [](clock::time_point a, clock::time_point b) { return std::chrono::duration<double, std::milli>(b - a).count(); };
    const auto t0 = clock::now();
    p.embed_prefix(ctx);
    const auto t1 = clock::now();
    p.prefill(ctx);
    const auto t2 = clock::now();
    p.start(ctx);
    for (index_t k = 0; k < cfg.steps; ++k) {
      p.denoise_step(ctx, k);
      std::printf("\rdenoising step %lld/%lld", static_cast<long long>(k + 1), static_cast<long long>(cfg.steps));
      std::fflush(stdout);
    }
    const auto t3 = clock::now();
    std::printf("\nCPU fp32, %d threads: ViT %.1f ms, prefill %.1f ms, denoise %.1f ms (%.1f ms/step), end to end %.1f ms\n",
                ctx.threads(), ms(t0, t1), ms(t1, t2), ms(t2, t3), ms(t2, t3) / double(cfg.steps), ms(t0, t3));
    print_actions(p.actions);
    return 0;
  }
  FUSEKIT_CHECK(device == "gpu", "--device must be gpu or cpu (got {})", device);
#if FUSEKIT_GPUCC
  hip::Stream s;
  const auto& d = s.device();
  std::printf("loading weights (bf16) onto %s...\n", d.name.c_str());
  const auto w = load_pi0<bfloat16>(s, cfg, *src);
  Pi0Policy<bfloat16, DeviceSpace> p(s, w, 1);
  std::printf("action expert: %s\n", p.decode_stack() ? "one persistent kernel per denoising step (DecodeStack)"
                                                       : "gemma_forward (6 launches a layer)");
  p.set_inputs(s, in.images, in.lang, in.state, in.noise);
  std::printf("warm-up run (sizes workspaces)...\n");
  p.run(s);
  s.synchronize();
  auto time_ms = [&](const std::function<void()>& fn, const char* what) {
    for (int i = 0; i < 3; ++i) fn();
    std::vector<double> t;
    for (int i = 0; i < iters; ++i) {
      hip::Event a, b;
      a.record(s);
      fn();
      b.record(s);
      b.synchronize();
      t.push_back(hip::Event::elapsed_ms(a, b));
      std::printf("\r%s: %d/%d", what, i + 1, iters);
      std::fflush(stdout);
    }
    std::printf("\r%*s\r", 60, "");
    return examples::median(t);
  };
  double vit, prefill, denoise, total;
  const bool graph = !args.flag("no-graph");
  if (graph) {
    const hip::Graph g_vit = hip::capture(s, [&](hip::Stream& st) { p.embed_prefix(st); });
    const hip::Graph g_pre = hip::capture(s, [&](hip::Stream& st) { p.prefill(st); });
    const hip::Graph g_den = hip::capture(s, [&](hip::Stream& st) {
      p.start(st);
      for (index_t k = 0; k < cfg.steps; ++k) p.denoise_step(st, k);
    });
    const hip::Graph g_all = hip::capture(s, [&](hip::Stream& st) { p.run(st); });
    vit = time_ms([&] { g_vit.replay(s); }, "ViT");
    prefill = time_ms([&] { g_pre.replay(s); }, "prefill");
    denoise = time_ms([&] { g_den.replay(s); }, "denoise");
    total = time_ms([&] { g_all.replay(s); }, "end to end");
  } else {
    vit = time_ms([&] { p.embed_prefix(s); }, "ViT");
    prefill = time_ms([&] { p.prefill(s); }, "prefill");
    denoise = time_ms([&] {
      p.start(s);
      for (index_t k = 0; k < cfg.steps; ++k) p.denoise_step(s, k);
    }, "denoise");
    total = time_ms([&] { p.run(s); }, "end to end");
  }
  std::printf("%s, bf16, %s, median of %d: ViT %.3f ms, prefill %.3f ms, denoise %.3f ms (%.3f ms/step), end to end %.3f ms\n",
              d.name.c_str(), graph ? "graph replay" : "stream launches", iters, vit, prefill, denoise,
              denoise / double(cfg.steps), total);
  print_actions(to_host(s, p.actions));
  if (!args["json"].empty()) {
    std::ofstream f(args["json"]);
    f << fmt::format("{{\"gpu\": \"{}\", \"graph\": {}, \"layers\": {}, \"vit_ms\": {}, \"prefill_ms\": {}, \"denoise_ms\": {}, "
                     "\"step_ms\": {}, \"total_ms\": {}}}\n",
                     d.name, graph, cfg.prefix.layers, vit, prefill, denoise, denoise / double(cfg.steps), total);
  }
  return 0;
#else
  fail("this build has no GPU backend: rebuild with -DFUSEKIT_GPU=NVIDIA or AMD, or use --device cpu");
#endif
} catch (const std::exception& e) {
  std::fprintf(stderr, "pi0-policy: %s\n", e.what());
  return 1;
}
