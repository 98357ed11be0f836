// Instantiates every GPU op for every supported dtype combination, without GoogleTest, so that the GPU
// code is compile-checked for every target even where the test binary cannot be built (Debian's hipcc,
// clang 15, crashes on GoogleTest in C++20 device compilation). Running it does nothing unless asked.
#include <fusekit/fusekit.hpp>

namespace fusekit {
namespace {

template <class T, class W>
void rmsnorm_all(hip::Stream& s) {
  DeviceTensor<T, 2> x({1, 8}, s), y({1, 8}, s);
  DeviceTensor<W, 1> w({8}, s);
  rmsnorm(s, y, x, w);
  rmsnorm(s, y, x, x, x, w, {1e-6f, true});
  layernorm(s, y, x, w, w);
  layernorm(s, y, x, x, x, w, w);
}

template <class A, class B, class O>
void add_all(hip::Stream& s) {
  DeviceTensor<A, 2> a({2, 3}, s);
  DeviceTensor<B, 2> b({1, 3}, s);
  DeviceTensor<O, 2> o({2, 3}, s);
  add(s, o, a, b);
  copy(s, o, a);
  fill(s, o, 1.0);
}

template <class T>
void activations_all(hip::Stream& s) {
  DeviceTensor<T, 2> x({2, 8}, s), y({2, 4}, s), z({2, 8}, s);
  activation(s, z, x, act::Identity{});
  activation(s, z, x, act::Relu{});
  activation(s, z, x, act::GeluErf{});
  activation(s, z, x, act::GeluTanh{});
  activation(s, z, x, act::Sigmoid{});
  activation(s, z, x, act::Silu{});
  activation(s, z, x, act::Tanh{});
  activation(s, z, x, act::Softplus{});
  activation(s, z, x, act::Mish{});
  activation(s, z, x, act::MishScale8{});
  gated(s, y, x, act::Silu{});
  gated(s, y, x, act::GeluTanh{});
}

void all(hip::Stream& s) {
  activations_all<float>(s);
  activations_all<half>(s);
  activations_all<bfloat16>(s);
  rmsnorm_all<float, float>(s);
  rmsnorm_all<half, half>(s);
  rmsnorm_all<bfloat16, bfloat16>(s);
  rmsnorm_all<bfloat16, float>(s);
  rmsnorm_all<half, float>(s);
  add_all<float, float, float>(s);
  add_all<half, half, half>(s);
  add_all<bfloat16, bfloat16, bfloat16>(s);
  add_all<bfloat16, float, half>(s);
  add_all<int32_t, int32_t, int32_t>(s);
  auto g = hip::capture(s, [](hip::Stream&) {});
  g.replay(s);
}

}  // namespace
}  // namespace fusekit

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--run") {
    if (fusekit::hip::device_count() == 0) {
      fmt::print("no GPU visible: skipped\n");
      return 0;
    }
    fusekit::hip::Stream s;
    fusekit::all(s);
    s.synchronize();
    fmt::print("instantiated GPU ops ran\n");
  }
  return 0;
}
