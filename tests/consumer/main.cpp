// Smallest real use: RMSNorm on the CPU, checked against the float64 reference.
#include <fusekit/fusekit.hpp>
#include <fusekit/reference/check.hpp>
#include <fusekit/reference/norm.hpp>

int main() {
  using namespace fusekit;
  cpu::Context ctx(1);
  HostTensor<float, 2> x({4, 16}), y({4, 16});
  HostTensor<float, 1> w({16});
  for (index_t i = 0; i < x.numel(); ++i) x.data()[i] = 0.25f * static_cast<float>(i % 7) - 0.6f;
  fill(ctx, w, 0.5);
  rmsnorm(ctx, y, x, w, {1e-6f, true});
  auto ref = reference::rmsnorm<float, float>(x.view(), w.view(), 1e-6, true);
  auto c = reference::compare<float, 2>(y.view(), ref.view(), reference::tolerance_for<float>());
  fmt::print("consumer: {}", c.report);
  return c.ok ? 0 : 1;
}
