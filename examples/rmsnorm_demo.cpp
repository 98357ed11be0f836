// fusekit's first end-to-end example: a Gemma-style fused residual-add + RMSNorm on the CPU over a
// built-in default input (or a .npy file), checked against the float64 reference, with timing.
//   rmsnorm_demo [--input X.npy] [--rows N] [--cols N] [--threads N] [--save OUT.npy]
#include <chrono>
#include <cstring>
#include <random>
#include <string>

#include <fusekit/fusekit.hpp>
#include <fusekit/reference/check.hpp>
#include <fusekit/reference/norm.hpp>

using namespace fusekit;

int main(int argc, char** argv) try {
  std::string input, save;
  index_t rows = 788, cols = 2048;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) fail("missing value after {}", a);
      return argv[++i];
    };
    if (a == "--input") input = next();
    else if (a == "--save") save = next();
    else if (a == "--rows") rows = std::stoll(next());
    else if (a == "--cols") cols = std::stoll(next());
    else if (a == "--threads") threads = std::stoi(next());
    else if (a == "--help" || a == "-h") {
      fmt::print("usage: rmsnorm_demo [--input X.npy (float32 [rows, cols])] [--rows N] [--cols N] [--threads N] "
                 "[--save OUT.npy]\n");
      return 0;
    } else fail("unknown argument '{}' (try --help)", a);
  }
  cpu::Context ctx(threads);
  HostTensor<float, 2> x;
  if (!input.empty()) {
    x = io::load_npy<float, 2>(input);
    rows = x.size(0);
    cols = x.size(1);
  } else {  // built-in default: the Gemma-2B prefix activations' shape, fixed seed
    x = HostTensor<float, 2>({rows, cols});
    std::mt19937 rng(42);
    std::normal_distribution<float> n(0.f, 1.f);
    for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = n(rng);
  }
  HostTensor<float, 2> residual({rows, cols}), sum({rows, cols}), y({rows, cols});
  HostTensor<float, 1> w({cols});
  for (index_t i = 0; i < residual.numel(); ++i) residual.data()[i] = 0.5f * std::sin(0.001f * static_cast<float>(i));
  for (index_t c = 0; c < cols; ++c) w(c) = 0.1f * std::cos(static_cast<float>(c));

  const RmsNormOptions opt{1e-6f, /*unit_offset=*/true};
  rmsnorm(ctx, y, sum, x, residual, w, opt);  // warm-up
  const auto t0 = std::chrono::steady_clock::now();
  rmsnorm(ctx, y, sum, x, residual, w, opt);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();

  auto [ref, ref_sum] = reference::rmsnorm_residual<float, float>(x.view(), residual.view(), w.view(), 1e-6, true);
  auto c = reference::compare<float, 2>(y.view(), ref.view(), reference::tolerance_for<float>(), "rmsnorm");
  fmt::print("fusekit {}.{}.{} | CPU, {} threads | GPU support compiled: {}\n", FUSEKIT_VERSION_MAJOR,
             FUSEKIT_VERSION_MINOR, FUSEKIT_VERSION_PATCH, ctx.threads(), gpu_vendor_name());
  fmt::print("input x {} f32 ({}), Gemma RMSNorm (1+w) with fused residual add\n", x.shape(),
             input.empty() ? "built-in default" : input);
  fmt::print("y[0, :] = {}\n", y.view().slice(0, 0, 1));
  fmt::print("time {:.3f} ms ({:.2f} GB/s)\n", ms, 4.0 * 4 * static_cast<double>(rows * cols) / (ms * 1e6));
  fmt::print("check vs float64 reference: {}", c.report);
  if (!save.empty()) {
    io::save_npy(save, y);
    fmt::print("saved {}\n", save);
  }
  return c.ok ? 0 : 1;
} catch (const fusekit::Error& e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 2;
}
