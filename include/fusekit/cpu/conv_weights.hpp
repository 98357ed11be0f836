#pragma once
// cpu::ConvWeights: a convolution weight in the forms the CPU convolution multiplies with, prepared once
// (at model load) instead of on every conv2d call:
//   gemm      [K][Cout], k = (ky * K + kx) * Cin + ci       (im2col + GEMM)
//   winograd  36 x [Cin][Cout], U = G g G^T per channel pair (3x3 kernels only, cpu/winograd.hpp)
// each packed for cpu::packed_gemm.
#include <vector>

#include "fusekit/core/error.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor_view.hpp"
#include "fusekit/cpu/packed_gemm.hpp"
#include "fusekit/cpu/winograd.hpp"

namespace fusekit::cpu {

struct ConvWeights {
  index_t cout = 0, cin = 0, k = 0;
  PackedMatrix gemm;
  std::vector<PackedMatrix> winograd;
};

// w: a logical (Cout, Cin, K, K) fp32 host view, any strides.
template <class T>
ConvWeights prepare_conv_weights(const TensorView<T, 4, HostSpace>& w) {
  static_assert(std::is_same_v<std::remove_const_t<T>, float>,
                "cpu::prepare_conv_weights: the CPU convolution takes fp32 weights (convert them at load time)");
  FUSEKIT_CHECK(w.size(2) == w.size(3) && w.size(2) % 2 == 1,
                "cpu::prepare_conv_weights: the kernel must be square and odd, the weight is {}", w.shape());
  ConvWeights p{w.size(0), w.size(1), w.size(2), {}, {}};
  const index_t O = p.cout, C = p.cin, K = p.k;
  std::vector<float> m(static_cast<std::size_t>(K * K * C * O));
  for (index_t ky = 0; ky < K; ++ky)
    for (index_t kx = 0; kx < K; ++kx)
      for (index_t c = 0; c < C; ++c)
        for (index_t o = 0; o < O; ++o) m[static_cast<std::size_t>(((ky * K + kx) * C + c) * O + o)] = w(o, c, ky, kx);
  p.gemm = pack_matrix(m.data(), K * K * C, O, O);
  if (K == 3) {
    m.assign(static_cast<std::size_t>(winograd::positions * C * O), 0.f);
    for (index_t o = 0; o < O; ++o)
      for (index_t c = 0; c < C; ++c) {
        double u[6][6];
        winograd::filter_transform([&](int ky, int kx) { return static_cast<double>(w(o, c, ky, kx)); }, u);
        for (int pos = 0; pos < winograd::positions; ++pos)
          m[static_cast<std::size_t>((pos * C + c) * O + o)] = static_cast<float>(u[pos / 6][pos % 6]);
      }
    for (int pos = 0; pos < winograd::positions; ++pos) p.winograd.push_back(pack_matrix(m.data() + pos * C * O, C, O, O));
  }
  return p;
}

}  // namespace fusekit::cpu
