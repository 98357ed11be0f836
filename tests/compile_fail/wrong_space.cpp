// A device tensor passed to a CPU op must not compile, and the error must say why.
#include <fusekit/fusekit.hpp>

int main() {
  fusekit::cpu::Context ctx;
  fusekit::DeviceView<float, 2> x(nullptr, fusekit::Shape<2>{2, 2}), out(nullptr, fusekit::Shape<2>{2, 2});
  fusekit::DeviceView<float, 1> w(nullptr, fusekit::Shape<1>{2});
  fusekit::rmsnorm(ctx, out, x, w);
}
