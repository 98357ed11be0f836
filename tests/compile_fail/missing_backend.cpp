// A context whose backend has no implementation of an op in this translation unit (here: the HIP
// backend in a file compiled by the host compiler) must fail with a sentence, not a backtrace.
#include <fusekit/fusekit.hpp>

struct FakeStream {
  using backend = fusekit::HipBackend;
  using space = fusekit::DeviceSpace;
};

int main() {
  FakeStream s;
  fusekit::DeviceView<float, 2> x(nullptr, fusekit::Shape<2>{2, 2}), out(nullptr, fusekit::Shape<2>{2, 2});
  fusekit::DeviceView<float, 1> w(nullptr, fusekit::Shape<1>{2});
  fusekit::rmsnorm(s, out, x, w);
}
