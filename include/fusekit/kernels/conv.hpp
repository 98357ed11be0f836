#pragma once
// GPU convolution: the GEMM kernels (kernels/gemm.hpp) with a convolution's A source, i.e. implicit
// GEMM with no im2col buffer. Policy:
//   wgmma as mma below, on an sm_90 GPU with sm_90a code in the binary (kernels/gemm_sm90.hpp: the
//         weight by TMA; A by TMA in im2col mode when Cin % 64 == 0 and no prologue is left to apply,
//         else gathered by the producer warpgroup with the same copier as mma. im2col measured 1.8x
//         faster at batch 256 on H200: 324 -> 182 us for KataGo's 3x3 192 -> 192 conv with NormAct)
//   mma   f16/bf16 on NVIDIA sm_80+, NHWC x (channel stride 1), OHWI weight, Cin % 8 == 0, 16-byte
//         aligned pixels: the A copier gathers 8 channels of one input pixel per 16-byte cp.async and
//         applies the NormAct prologue in shared memory (kernels/conv_copier.hpp)
//   simt  everything else (fp32, NCHW, OIHW, odd channel counts, AMD): A elements computed one by one
// The input prologue is applied by one NormAct pass into the stream's workspace (slot 1, NHWC) before
// the implicit GEMM (ConvPrologue::staged), unless in_loader is forced. Measured: applying Mish in the
// copier 9 times per element made the 3x3 conv 2.6x slower than the plain one (H100); even for 1x1
// kernels, where each element is activated once either way, the wgmma producer warpgroup doing it
// per element ran KataGo's 384 <-> 192 convs at 7.5 TFLOP/s (H200, docs/performance.md).
#include <string>

#include "fusekit/kernels/gemm.hpp"
#include "fusekit/kernels/norm_act.hpp"
#include "fusekit/ops/conv_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

template <>
struct OpImpl<op::Conv, HipBackend> {
  using Gemm = OpImpl<op::Gemm, HipBackend>;

  template <class T, class O, class Epi, class Pro>
  static void run(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
    FUSEKIT_CHECK(opt.algo != ConvAlgo::winograd, "conv2d: winograd is a CPU algorithm; the GPU runs implicit GEMM");
    if constexpr (Pro::active) {
      if (opt.prologue != ConvPrologue::in_loader) {
        run_gemm(s, staged_prologue(s, p), opt);
        return;
      }
    }
    run_gemm(s, p, opt);
  }

  // The prologue applied once per input element into a dense NHWC copy in the workspace; the same
  // convolution on that copy, without prologue.
  template <class T, class O, class Epi, class Pro>
  static GemmParams<T, O, Epi, ConvInput<T, prologue::None>> staged_prologue(
      const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p) {
    const ConvInput<T, Pro>& a = p.a;
    const Shape<4> shape{a.s.n, a.s.cin, a.s.h, a.s.w};
    const Strides<4> nhwc = image_strides(shape, Layout::nhwc);
    T* xn = static_cast<T*>(s.workspace(static_cast<std::size_t>(numel(shape)) * sizeof(T), 1));
    OpImpl<op::NormAct, HipBackend>::run(s, prologue_norm_act(a, xn, nhwc, 0, a.s.n), a.pro.act);
    return {ConvInput<T, prologue::None>{xn, nhwc, a.s, a.channel_minor, {}},
            p.b, p.c, p.batch, p.m, p.n, p.k, p.n_out, p.alpha, p.beta, p.epi};
  }

  template <class T, class O, class Epi, class Pro>
  static void run_gemm(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
    FUSEKIT_CHECK(opt.path != GemmPath::skinny && opt.path != GemmPath::small_m,
                  "conv2d: the skinny and small_m GEMM paths are for products of at most 16 rows, not "
                  "convolutions (use automatic, wgmma, mma or simt)");
    if (opt.path == GemmPath::wgmma || opt.path == GemmPath::automatic) {
      std::string why = mma_blocker(s, p);
#if FUSEKIT_VENDOR_CUDA
      if (why.empty()) why = Gemm::wgmma_device_blocker<T, O, Epi, ConvInput<T, Pro>, kernels::WgmmaConvTiles>(s);
#else
      if (why.empty()) why = "it needs an NVIDIA sm_90 GPU";
#endif
      FUSEKIT_CHECK(opt.path != GemmPath::wgmma || why.empty(), "conv2d: the wgmma path was forced but {}", why);
      if (why.empty()) {
        if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
          run_wgmma(s, p, opt);
          return;
        }
      }
    }
    if (Gemm::use_mma("conv2d", p, mma_blocker(s, p), opt.path, opt.tile)) {
      if constexpr (FUSEKIT_VENDOR_CUDA && (std::is_same_v<T, half> || std::is_same_v<T, bfloat16>)) {
        Gemm::run_mma<true>(s, p, GemmOptions{1.f, 0.f, GemmPath::mma, opt.tile, opt.splits});
        return;
      }
    }
    Gemm::launch_simt(s, p);
  }

#if FUSEKIT_VENDOR_CUDA
  // Tile: 192 wide when that pads Cout no more than 128-wide tiles do (KataGo's 192 and 384 channels),
  // with 64 rows when 128-row tiles would not give every multiprocessor a block; else 128 x 128.
  // Split-K as for the GEMM. A by TMA im2col where it applies.
  template <class T, class O, class Epi, class Pro>
  static void run_wgmma(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
    FUSEKIT_CHECK(opt.tile < kernels::wgmma_conv_tile_count, "conv2d: wgmma tile {} does not exist (0..{})", opt.tile,
                  kernels::wgmma_conv_tile_count - 1);
    int tile = opt.tile;
    if (tile < 0) {
      const bool wide = (p.n + 191) / 192 * 192 <= (p.n + 127) / 128 * 128;
      tile = !wide ? 2 : Gemm::tiles_of(p, 128, 192) * p.batch >= s.device().multiprocessors ? 0 : 1;
    }
    const bool im2col = opt.tma_im2col && im2col_applies(p);
    kernels::with_tile<kernels::WgmmaConvTiles>(tile, [&](auto cfg) {
      using Cfg = decltype(cfg);
      Gemm::launch_wgmma<Cfg>(
          s, p, Gemm::wgmma_splits(s, Gemm::tiles_of(p, Cfg::BM, Cfg::BN) * p.batch, p.k, Cfg::BK, opt.splits), im2col);
    });
  }

  // TMA im2col loads a k-tile as 64 channels of one filter tap at pixel strides of 16-byte multiples
  // (mma_blocker has checked those and the alignment): Cin % 64 == 0, the input as stored (no prologue
  // left to apply), filter corners within TMA's [-128, 127].
  template <class T, class O, class Epi, class Pro>
  static bool im2col_applies(const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p) {
    const ConvShape& c = p.a.s;
    return !Pro::active && c.cin % 64 == 0 && c.kh == c.kw && c.pad() <= 127 && c.h < (index_t{1} << 31) &&
           c.w < (index_t{1} << 31) && c.n < (index_t{1} << 31);
  }
#else
  template <class T, class O, class Epi, class Pro>
  static void run_wgmma(const hip::Stream&, const GemmParams<T, O, Epi, ConvInput<T, Pro>>&, const ConvOptions&) {}
#endif

  // Empty when the mma kernel can run this convolution, else the reason.
  template <class T, class O, class Epi, class Pro>
  static std::string mma_blocker(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p) {
    if (!FUSEKIT_VENDOR_CUDA) return "on AMD the matrix-core atom serves the GEMM, not yet the convolution";
    if (std::string why = Gemm::mma_device_blocker<T>(s); !why.empty()) return why;
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
};

}  // namespace fusekit
#endif
