// Instantiates every GPU op for every supported dtype combination, without GoogleTest, so that the GPU
// code is compile-checked for every target even where the test binary cannot be built (Debian's hipcc,
// clang 15, crashes on GoogleTest in C++20 device compilation). Running it does nothing unless asked.
// Three translation units (this one, instantiate_gemm_conv.cpp, instantiate_attention.cpp), so that a
// build on few cores compiles them side by side.
#include <fusekit/fusekit.hpp>

#include "instantiate.hpp"

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

template <class T, class W>
void network_ops_all(hip::Stream& s) {
  DeviceTensor<T, 4> x({1, 8, 3, 3}, s), m({1, 1, 3, 3}, s);
  DeviceTensor<W, 1> w({8}, s);
  norm_act(s, x, x, w, w, m, act::Mish{});
  norm_act(s, x, x, w, w, act::MishScale8{});
  norm_act(s, x, x, w, w, m, act::Relu{});
  norm_act(s, x, x, w, w, act::Identity{});
  norm_act(s, x, x.view().permute({0, 2, 3, 1}).permute({0, 3, 1, 2}), w, w, m, act::Mish{});
  DeviceTensor<T, 2> pooled({1, 24}, s);
  DeviceTensor<float, 2> pooled_f({1, 24}, s);
  global_pool(s, pooled, x, m, PoolKind::katago);
  global_pool(s, pooled_f, x, PoolKind::value_head);
  DeviceTensor<T, 2> logits({2, 8}, s), add_mask({1, 8}, s);
  DeviceTensor<std::uint8_t, 2> keep({2, 8}, s);
  DeviceTensor<bool, 2> keep_b({2, 8}, s);
  softmax(s, logits, logits);
  softmax(s, logits, logits, add_mask);
  log_softmax(s, logits, logits, keep);
  softmax(s, logits, logits, keep_b);
  DeviceTensor<T, 4> scores({1, 2, 3, 4}, s);
  DeviceTensor<float, 4> smask({1, 1, 3, 4}, s);
  softmax(s, scores, scores, smask, {0.5f});
  DeviceTensor<T, 3> q({2, 2, 8}, s), k({2, 1, 8}, s);
  DeviceTensor<std::int32_t, 1> p32({2}, s);
  DeviceTensor<std::int64_t, 1> p64({2}, s);
  rope(s, q, q, p32);
  rope_qk(s, q, k, p64, {10000.f, RopeLayout::interleaved});
  rope_qkv_to_cache(s, q, k, k, p64, k, k);
  axpby(s, logits, logits, add_mask, 1.0, 0.5);
  scale(s, logits, logits, 2.0);
  bias_add(s, logits, logits, w, 1, act::GeluTanh{});
}

void all(hip::Stream& s) {
  instantiate_gemm_conv(s);
  instantiate_attention_transformer(s);
  network_ops_all<float, float>(s);
  network_ops_all<half, half>(s);
  network_ops_all<bfloat16, float>(s);
  network_ops_all<bfloat16, bfloat16>(s);
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
