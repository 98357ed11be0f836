// katago-soak: a long run that shows leaks and drift. --streams threads, each with its own context (CPU)
// or stream (GPU) and evaluator, evaluate batches of one shared KataGo network for --seconds; once per
// --every seconds it samples positions/s over the interval, host resident memory and device memory in
// use (GPU), printed as a table and written as CSV (--csv). Every result is compared bit for bit with
// the first result its thread got for the same input. At the end: throughput after the warm-up
// (min/median/max), memory growth from the first sample after the warm-up to the last, and a verdict;
// exit status 1 when results changed, memory grew by more than --max-growth-mib, or the last tenth of
// the run was more than 10% slower than the first tenth.
//   katago-soak [--model FILE] [--device cpu|gpu] [--dtype fp32|fp16] [--batch 64] [--streams 2]
//               [--seconds 600] [--every 1] [--warmup 10] [--csv FILE] [--threads N] [--max-growth-mib 64]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <unistd.h>

#include "katago_common.hpp"

using namespace fusekit;
using namespace fusekit::examples;

namespace {

const char* usage =
    "katago-soak [--model FILE] [--device cpu|gpu] [--dtype fp32|fp16] [--batch 64] [--streams 2] [--seconds 600]\n"
    "            [--every 1] [--warmup 10] [--csv FILE] [--threads N] [--max-growth-mib 64] [--seed S]\n";

double host_resident_mib() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE)) / (1 << 20);
}

double device_used_mib() {
#if FUSEKIT_GPUCC
  std::size_t free_b = 0, total_b = 0;
  if (hip::device_count() > 0 && gpu::mem_get_info(&free_b, &total_b) == gpu::success)
    return static_cast<double>(total_b - free_b) / (1 << 20);
#endif
  return 0;
}

struct Sample {
  double t, positions_per_s, host_mib, device_mib;
};

struct Settings {
  index_t batch;
  int streams;
  double seconds, every, warmup, max_growth_mib;
  std::string csv;
};

// Runs the soak with contexts from make_ctx(); returns the exit status.
template <class Ctx, class T, class MakeCtx>
int soak(Ctx& build_ctx, MakeCtx make_ctx, const katago::ModelDesc& m, const Settings& s, const std::string& label) {
  using Net = katago::Network<Ctx, T>;
  const auto net = std::make_shared<const Net>(build_ctx, m, katago::NetworkOptions{s.batch});
  // A batch of the example positions, cycled.
  std::vector<Position> ps;
  for (index_t i = 0; i < s.batch; ++i) ps.push_back(example_positions()[static_cast<std::size_t>(i) % example_positions().size()]);
  const auto [spatial, global] = featurize(ps, 19, 19);
  std::atomic<bool> stop{false};
  std::atomic<long long> positions{0}, mismatches{0};
  std::vector<std::string> errors(static_cast<std::size_t>(s.streams));
  std::vector<std::thread> workers;
  for (int w = 0; w < s.streams; ++w)
    workers.emplace_back([&, w] {
      try {
        auto ctx = make_ctx();
        katago::Evaluator<Ctx, T> eval(*ctx, net);
        const katago::Outputs first = eval.evaluate(spatial.view(), global.view());
        katago::Outputs o = eval.make_outputs(s.batch);
        const auto views = katago::views_of(o);
        while (!stop.load(std::memory_order_relaxed)) {
          eval.evaluate(spatial.view(), global.view(), {}, views);
          positions += s.batch;
          auto same = [](const auto& a, const auto& b) { return std::memcmp(a.data(), b.data(), a.bytes()) == 0; };
          if (!same(o.policy, first.policy) || !same(o.pass, first.pass) || !same(o.value, first.value) ||
              !same(o.score, first.score) || !same(o.ownership, first.ownership))
            ++mismatches;
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(w)] = e.what();
        stop = true;
      }
    });

  std::printf("soak: %s, batch %lld, %d threads sharing one network, %.0f s, a sample every %.1f s\n", label.c_str(),
              static_cast<long long>(s.batch), s.streams, s.seconds, s.every);
  std::printf("%8s %14s %12s %12s\n", "t (s)", "positions/s", "host MiB", "device MiB");
  std::vector<Sample> samples;
  const auto t0 = std::chrono::steady_clock::now();
  long long last_positions = 0;
  double last_t = 0;
  for (int k = 1; !stop; ++k) {
    std::this_thread::sleep_until(t0 + std::chrono::duration<double>(k * s.every));
    const double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const long long p = positions.load();
    samples.push_back({t, static_cast<double>(p - last_positions) / (t - last_t), host_resident_mib(), device_used_mib()});
    last_positions = p, last_t = t;
    const Sample& x = samples.back();
    std::printf("%8.1f %14.1f %12.1f %12.1f\n", x.t, x.positions_per_s, x.host_mib, x.device_mib);
    std::fflush(stdout);
    if (t >= s.seconds) stop = true;
  }
  for (auto& w : workers) w.join();

  if (!s.csv.empty()) {
    std::ofstream f(s.csv);
    f << "t_s,positions_per_s,host_mib,device_mib\n";
    for (const Sample& x : samples) f << x.t << ',' << x.positions_per_s << ',' << x.host_mib << ',' << x.device_mib << '\n';
  }
  int status = 0;
  for (const auto& e : errors)
    if (!e.empty()) std::printf("FAIL: a worker stopped: %s\n", e.c_str()), status = 1;
  std::vector<Sample> steady;
  for (const Sample& x : samples)
    if (x.t > s.warmup) steady.push_back(x);
  if (steady.size() < 10) {
    std::printf("FAIL: only %zu samples after the %.0f s warm-up\n", steady.size(), s.warmup);
    return 1;
  }
  std::vector<double> rate;
  for (const Sample& x : steady) rate.push_back(x.positions_per_s);
  const std::size_t tenth = steady.size() / 10;
  double head = 0, tail = 0;
  for (std::size_t i = 0; i < tenth; ++i) head += rate[i], tail += rate[rate.size() - 1 - i];
  const double host_growth = steady.back().host_mib - steady.front().host_mib;
  const double dev_growth = steady.back().device_mib - steady.front().device_mib;
  std::printf("throughput after warm-up: min %.1f, median %.1f, max %.1f positions/s; last tenth / first tenth %.3f\n",
              *std::min_element(rate.begin(), rate.end()), median(rate), *std::max_element(rate.begin(), rate.end()),
              tail / head);
  std::printf("memory from t=%.0f s to the end: host %+.1f MiB (%.1f -> %.1f), device %+.1f MiB (%.1f -> %.1f)\n",
              steady.front().t, host_growth, steady.front().host_mib, steady.back().host_mib, dev_growth,
              steady.front().device_mib, steady.back().device_mib);
  std::printf("results identical to each thread's first: %s (%lld differed)\n", mismatches == 0 ? "yes" : "NO",
              mismatches.load());
  if (mismatches != 0) status = 1;
  if (host_growth > s.max_growth_mib || dev_growth > s.max_growth_mib)
    std::printf("FAIL: memory grew by more than %.0f MiB\n", s.max_growth_mib), status = 1;
  if (tail < 0.9 * head) std::printf("FAIL: the last tenth ran more than 10%% slower than the first\n"), status = 1;
  std::printf("%s\n", status == 0 ? "soak passed" : "soak FAILED");
  return status;
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args(argc, argv,
                  {{"model", ""}, {"device", "cpu"}, {"dtype", "fp32"}, {"batch", "64"}, {"streams", "2"}, {"seconds", "600"},
                   {"every", "1"}, {"warmup", "10"}, {"csv", ""}, {"threads", "0"}, {"max-growth-mib", "64"}, {"seed", "1"}},
                  usage);
  const katago::ModelDesc m = load_or_default(args["model"], static_cast<std::uint64_t>(std::stoull(args["seed"])));
  const Settings s{static_cast<index_t>(std::stoll(args["batch"])), args.integer("streams"), std::stod(args["seconds"]),
                   std::stod(args["every"]), std::stod(args["warmup"]), std::stod(args["max-growth-mib"]), args["csv"]};
  FUSEKIT_CHECK(s.batch >= 1 && s.streams >= 1 && s.every > 0, "--batch, --streams and --every must be positive");
  if (args["device"] == "cpu") {
    FUSEKIT_CHECK(args["dtype"] == "fp32", "the CPU backend computes in fp32 (got --dtype {})", args["dtype"]);
    const int threads = args.integer("threads");
    cpu::Context build(threads);
    return soak<cpu::Context, float>(build, [&] { return std::make_unique<cpu::Context>(threads); }, m, s,
                                     fmt::format("CPU fp32, {} threads per context", build.threads()));
  }
  FUSEKIT_CHECK(args["device"] == "gpu", "--device must be cpu or gpu (got {})", args["device"]);
#if FUSEKIT_GPUCC
  hip::Stream build;
  auto make = [] { return std::make_unique<hip::Stream>(); };
  const std::string name = hip::Device::current().name;
  if (args["dtype"] == "fp16") return soak<hip::Stream, fusekit::half>(build, make, m, s, "GPU fp16 (" + name + ")");
  FUSEKIT_CHECK(args["dtype"] == "fp32", "--dtype must be fp32 or fp16 (got {})", args["dtype"]);
  return soak<hip::Stream, float>(build, make, m, s, "GPU fp32 (" + name + ")");
#else
  fail("this build has no GPU backend: configure with -DFUSEKIT_GPU=NVIDIA or AMD for --device gpu");
#endif
} catch (const std::exception& e) {
  std::fprintf(stderr, "katago-soak: %s\n", e.what());
  return 2;
}
