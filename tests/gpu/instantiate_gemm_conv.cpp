// fusekit_gpu_instantiate, part 2: GEMM and convolution for every dtype pair (see instantiate_ops.cpp).
#include <fusekit/fusekit.hpp>

#include "instantiate.hpp"

namespace fusekit {
namespace {

template <class T, class O>
void gemm_all(hip::Stream& s) {
  DeviceTensor<T, 2> a({16, 16}, s), w({32, 16}, s);
  DeviceTensor<T, 3> a3({2, 16, 16}, s);
  DeviceTensor<O, 2> c({16, 32}, s), c_half({16, 16}, s);
  DeviceTensor<O, 3> c3({2, 16, 32}, s);
  DeviceTensor<float, 1> v({32}, s);
  gemm(s, c, a, transposed(w));
  gemm(s, c3, a3, transposed(w), make_epilogue(epi::bias(v), epi::activation<act::GeluTanh>()), {1.f, 0.f, GemmPath::simt});
  gemm(s, c, a, transposed(w), make_epilogue(epi::scale_bias(v, v), epi::activation<act::Mish>(), epi::residual(c)));
  gemm(s, c_half, a, transposed(w), make_epilogue(epi::gate<act::GeluTanh>(GateLayout::concatenated)));
  gemm(s, c_half, a, transposed(w), make_epilogue(epi::bias(v), epi::gate<act::Silu>(GateLayout::interleaved), epi::residual(c_half)));
}

template <class T, class O>
void conv_all(hip::Stream& s) {
  DeviceTensor<T, 4> x({2, 19, 19, 16}, s), w({8, 3, 3, 16}, s), mask({2, 1, 19, 19}, s);
  DeviceTensor<O, 4> y({2, 19, 19, 8}, s);
  DeviceTensor<float, 1> v({16}, s);
  const auto xl = x.view().permute({0, 3, 1, 2});
  auto yl = y.view().permute({0, 3, 1, 2});
  const auto wl = w.view().permute({0, 3, 1, 2});
  conv2d(s, yl, xl, wl);
  conv2d(s, yl, xl, wl, input_norm_act(v, v, mask, act::Mish{}), make_epilogue(epi::residual(yl)));
  conv2d(s, yl, xl, wl, input_norm_act(v, v, act::Relu{}),
         make_epilogue(epi::scale_bias(v.view().slice(0, 0, 8), v.view().slice(0, 0, 8)), epi::board_mask(mask)),
         {ConvAlgo::automatic, GemmPath::simt});
  DeviceTensor<T, 4> z({2, 19, 19, 8}, s);  // the next block's NormAct'ed input, beside y
  const auto v8 = v.view().slice(0, 0, 8);
  conv2d(s, yl, xl, wl,
         make_epilogue(epi::residual(yl), epi::store_norm_act(z.view().permute({0, 3, 1, 2}), input_norm_act(v8, v8, mask, act::Mish{}))));
}

}  // namespace

void instantiate_gemm_conv(hip::Stream& s) {
  conv_all<float, float>(s);
  conv_all<half, half>(s);
  conv_all<bfloat16, bfloat16>(s);
  gemm_all<float, float>(s);
  gemm_all<half, half>(s);
  gemm_all<bfloat16, bfloat16>(s);
  gemm_all<bfloat16, float>(s);
}

}  // namespace fusekit
