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
// ConvAlgo::winograd (3x3 only, forced): F(4x4, 3x3) in four launches around a batched GEMM
// (kernels/winograd.hpp), the prologue applied by its input transform; measured 2.8-4x slower than the
// implicit GEMM on H200 for KataGo's trunk conv, so automatic never takes it.
// The input prologue is applied by one NormAct pass into the stream's workspace (slot 1, NHWC) before
// the implicit GEMM (ConvPrologue::staged), unless in_loader is forced. Measured: applying Mish in the
// copier 9 times per element made the 3x3 conv 2.6x slower than the plain one (H100); even for 1x1
// kernels, where each element is activated once either way, the wgmma producer warpgroup doing it
// per element ran KataGo's 384 <-> 192 convs at 7.5 TFLOP/s (H200, docs/performance.md).
#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>

#include "fusekit/kernels/gemm.hpp"
#include "fusekit/kernels/norm_act.hpp"
#include "fusekit/kernels/winograd.hpp"
#include "fusekit/ops/conv_params.hpp"

#if FUSEKIT_GPUCC
namespace fusekit {

template <>
struct OpImpl<op::Conv, HipBackend> {
  using Gemm = OpImpl<op::Gemm, HipBackend>;

  template <class T, class O, class Epi, class Pro>
  static void run(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
    FUSEKIT_CHECK(opt.path != GemmPath::skinny && opt.path != GemmPath::small_m,
                  "conv2d: the skinny and small_m GEMM paths are for products of at most 16 rows, not "
                  "convolutions (use automatic, wgmma, mma or simt)");
    if (opt.algo == ConvAlgo::winograd) {
      run_winograd(s, p, opt);
      return;
    }
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

  // Winograd F(4x4, 3x3): U = G g G^T, V = B^T d B (with the prologue), the 36 products M = V U^T by the
  // GEMM kernels (opt.path and opt.splits pass on to them; the conv tiles do not apply), y = A^T M A
  // with the epilogue. U, V and M (fp32, or T: opt.winograd_fp32_products) in workspace slot 1.
  template <class T, class O, class Epi, class Pro>
  static void run_winograd(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p,
                           const ConvOptions& opt) {
    namespace wg = kernels::winograd;
    const ConvShape& c = p.a.s;
    FUSEKIT_CHECK(c.kh == 3 && c.kw == 3, "conv2d: winograd was forced but it is for 3x3 kernels (this one is {}x{})",
                  c.kh, c.kw);
    FUSEKIT_CHECK(opt.tile < 0, "conv2d: winograd runs the GEMM's own tile policy (tile {} was forced)", opt.tile);
    const index_t tiles_h = (c.h + 3) / 4, tiles_w = (c.w + 3) / 4, tiles = c.n * tiles_h * tiles_w;
    // (one thread per tile and channel pair or output channel: at most 2^31 - 1 blocks of 256)
    FUSEKIT_CHECK(tiles_h * tiles_w < (index_t{1} << 32) && tiles * std::max(c.cin, c.cout) < (index_t{1} << 38),
                  "conv2d: winograd over {} images of {}x{} with {} -> {} channels is too large for one launch", c.n,
                  c.h, c.w, c.cin, c.cout);
    auto aligned = [](index_t bytes) { return static_cast<std::size_t>((bytes + 255) / 256 * 256); };
    const std::size_t u_bytes = aligned(wg::positions * c.cout * c.cin * index_t{sizeof(T)});
    const std::size_t v_bytes = aligned(wg::positions * tiles * c.cin * index_t{sizeof(T)});
    auto run_with = [&](auto products) {
      using MT = typename decltype(products)::type;
      const std::size_t m_bytes = aligned(wg::positions * tiles * c.cout * index_t{sizeof(MT)});
      auto* ws = static_cast<unsigned char*>(s.workspace(u_bytes + v_bytes + m_bytes, 1));
      T* u = reinterpret_cast<T*>(ws);
      T* v = reinterpret_cast<T*>(ws + u_bytes);
      MT* m = reinterpret_cast<MT*>(ws + u_bytes + v_bytes);
      const wg::TileGrid grid{static_cast<std::uint32_t>(tiles_w), static_cast<std::uint32_t>(tiles_h * tiles_w)};
      auto blocks = [](index_t items) { return dim3(static_cast<unsigned>((items + wg::block - 1) / wg::block)); };
      hip::launch_dependent("winograd_filter", wg::filter_transform<T>, blocks(c.cout * c.cin), dim3(wg::block), 0,
                            s, p.b, p.a.channel_minor, c.cout, c.cin, u);
      hip::launch_dependent("winograd_input", wg::input_transform<T, Pro>, blocks(tiles * ((c.cin + 1) / 2)),
                            dim3(wg::block), 0, s, p.a, grid, tiles, v);
      const GemmParams<T, MT, Epilogue<>> q{{v, c.cin, 1, tiles * c.cin}, {u, 1, c.cin, c.cout * c.cin},
                                           {m, c.cout, 1, tiles * c.cout}, wg::positions, tiles, c.cout, c.cin,
                                           c.cout, 1.f, 0.f, {}};
      Gemm::run(s, q, GemmOptions{1.f, 0.f, opt.path, -1, opt.splits});
      hip::launch_dependent("winograd_output", wg::output_transform<T, O, Epi, Pro, MT>, blocks(tiles * c.cout),
                            dim3(wg::block), 0, s, p, static_cast<const MT*>(m), grid, tiles);
    };
    if (opt.winograd_fp32_products) run_with(std::type_identity<float>{});
    else run_with(std::type_identity<T>{});
  }

  template <class T, class O, class Epi, class Pro>
  static void run_gemm(const hip::Stream& s, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p, const ConvOptions& opt) {
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
