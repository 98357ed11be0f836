#pragma once
// GPU convolution: the GEMM kernels (kernels/gemm.hpp) with a convolution's A source, i.e. implicit
// GEMM with no im2col buffer. Policy:
//   mma   f16/bf16 on NVIDIA sm_80+, NHWC x (channel stride 1), OHWI weight, Cin % 8 == 0, 16-byte
//         aligned pixels: the A copier gathers 8 channels of one input pixel per 16-byte cp.async and
//         applies the NormAct prologue in shared memory (kernels/conv_copier.hpp)
//   simt  everything else (fp32, NCHW, OIHW, odd channel counts, AMD): A elements computed one by one
#include <string>

#include "fusekit/kernels/gemm.hpp"
#include "fusekit/ops/conv_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

template <>
struct OpImpl<op::Conv, HipBackend> {
  using Gemm = OpImpl<op::Gemm, HipBackend>;

  template <class T, class O, class Epi, class Pro>
  static void run(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
    FUSEKIT_CHECK(opt.algo != ConvAlgo::winograd, "conv2d: winograd is a CPU algorithm; the GPU runs implicit GEMM");
    FUSEKIT_CHECK(p.batch <= 65535, "conv2d: batch {} exceeds the GPU grid limit (65535)", p.batch);
    const std::string why = mma_blocker(s, p);
    FUSEKIT_CHECK(opt.path != GemmPath::mma || why.empty(), "conv2d: the mma path was forced but {}", why);
    FUSEKIT_CHECK(opt.tile < kernels::mma_tile_count, "conv2d: tile {} does not exist (0..{})", opt.tile,
                  kernels::mma_tile_count - 1);
    if (opt.path != GemmPath::simt && why.empty()) {
      if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
        Gemm::run_mma<true>(s, p, GemmOptions{1.f, 0.f, GemmPath::mma, opt.tile, 0});
        return;
      }
    }
    Gemm::launch_simt(s, p);
  }

  // Empty when the mma kernel can run this convolution, else the reason.
  template <class T, class O, class Epi, class Pro>
  static std::string mma_blocker(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p) {
    if constexpr (!(std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
      return fmt::format("it needs f16 or bf16 tensors (got {})", dtype_of<T>);
    } else {
      if (!FUSEKIT_VENDOR_CUDA) return "its AMD matrix-core atoms are not written yet (docs/platforms.md)";
      const std::string& arch = s.device().arch;
      if (arch.rfind("sm_", 0) != 0 || std::stoi(arch.substr(3)) < 80)
        return fmt::format("it needs an NVIDIA sm_80+ GPU (this one is {})", arch);
      const auto& a = p.a;
      if (!a.channel_minor) return "it needs the weight stored OHWI (a permuted view of [Cout, K, K, Cin])";
      if (a.xs[1] != 1 || a.s.cin % 8 != 0 || a.xs[3] % 8 != 0 || a.xs[2] % 8 != 0 || a.xs[0] % 8 != 0 ||
          reinterpret_cast<std::uintptr_t>(a.x) % 16 != 0)
        return fmt::format("it needs NHWC x (channel stride 1), Cin % 8 == 0 and 16-byte aligned pixels (x strides "
                           "{}, Cin {})", a.xs, a.s.cin);
      if (reinterpret_cast<std::uintptr_t>(p.b.data) % 16 != 0 || p.b.col_stride % 8 != 0)
        return "it needs a 16-byte aligned weight";
      return {};
    }
  }
};

}  // namespace fusekit
#endif
