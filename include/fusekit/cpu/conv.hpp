#pragma once
// CPU convolution (fp32). Images are processed in groups small enough for the cache; per group:
//  1. staging: the input prologue (the NormAct op, SIMD activation) is applied once per input element
//     while the group is copied into a zero-padded NHWC fp32 buffer (no bounds checks after this, and
//     NCHW input becomes channel-contiguous);
//  2. compute, in parallel over blocks of output pixels / tiles:
//     winograd (3x3): F(4x4, 3x3) input transform, 36 Eigen GEMMs [tiles x Cin] x [Cin x Cout], output
//                     transform, epilogue, store;
//     implicit_gemm:  an im2col block [pixels x K] from the staging buffer, one Eigen GEMM with the
//                     [K x Cout] weight, epilogue, store.
// The epilogue runs on each block while it is in cache (GemmParams::output, as in every GEMM backend).
#include <Eigen/Core>
#include <algorithm>
#include <cstring>
#include <vector>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/cpu/conv_weights.hpp"
#include "fusekit/cpu/norm_act.hpp"
#include "fusekit/cpu/winograd.hpp"
#include "fusekit/ops/conv_params.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

namespace cpu {
using ConvMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConvMap = Eigen::Map<ConvMatrix>;
using ConvConstMap = Eigen::Map<const ConvMatrix>;

// Staging budget per group of images (floats): a few MiB, so that the compute pass reads it from cache.
inline constexpr index_t conv_stage_floats = index_t{1} << 21;
inline constexpr index_t conv_pixel_block = 64;     // output pixels per im2col block
inline constexpr index_t conv_max_tile_block = 96;  // Winograd tiles per GEMM block
}  // namespace cpu

template <>
struct OpImpl<op::Conv, CpuBackend> {
  template <class T, class O, class Epi, class Pro>
  static void run(const cpu::Context& ctx, const GemmParams<T, O, Epi, ConvInput<T, Pro>>& p,
                  const cpu::ConvWeights& w, const ConvOptions& opt) {
    if constexpr (!std::is_same_v<T, float>) {
      static_assert(dependent_false<T>, "conv2d on cpu::Context: the CPU backend convolves fp32 tensors");
    } else {
      const ConvShape& s = p.a.s;
      FUSEKIT_CHECK(opt.prologue != ConvPrologue::in_loader,
                    "conv2d: the in_loader prologue is a GPU choice; the CPU applies it while staging its input");
      FUSEKIT_CHECK(opt.algo != ConvAlgo::winograd || s.kh == 3,
                    "conv2d: winograd was forced but it is for 3x3 kernels (this one is {}x{})", s.kh, s.kw);
      const bool wino = s.kh == 3 && opt.algo != ConvAlgo::implicit_gemm;
      // Padded staging geometry: Winograd reads whole 6x6 tiles, im2col reads K x K windows.
      const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4;
      const index_t pad = s.pad();
      const index_t hp = wino ? 4 * th + 2 : s.h + 2 * pad, wp = wino ? 4 * tw + 2 : s.w + 2 * pad;
      const index_t image_floats = hp * wp * s.cin;
      const index_t group = std::clamp<index_t>(cpu::conv_stage_floats / std::max<index_t>(image_floats, 1), 1, s.n);
      std::vector<float> stage(static_cast<std::size_t>(group * image_floats));
      for (index_t n0 = 0; n0 < s.n; n0 += group) {
        const index_t g = std::min(group, s.n - n0);
        stage_images(ctx, p.a, n0, g, hp, wp, stage.data());
        if (wino) winograd_group(ctx, p, w, n0, g, hp, wp, stage.data());
        else im2col_group(ctx, p, w, n0, g, hp, wp, stage.data());
      }
    }
  }

 private:
  // Images [n0, n0 + g) -> stage [g][hp][wp][cin], prologue applied (the NormAct op, SIMD activation),
  // zero padding around.
  template <class Pro>
  static void stage_images(const cpu::Context& ctx, const ConvInput<float, Pro>& in, index_t n0, index_t g, index_t hp,
                           index_t wp, float* stage) {
    const ConvShape& s = in.s;
    std::fill(stage, stage + g * hp * wp * s.cin, 0.f);
    float* inside = stage + (s.pad() * wp + s.pad()) * s.cin;
    const Strides<4> padded{hp * wp * s.cin, 1, wp * s.cin, s.cin};  // logical (n, c, h, w)
    if constexpr (Pro::active) {
      OpImpl<op::NormAct, CpuBackend>::run(ctx, prologue_norm_act(in, inside, padded, n0, g), in.pro.act);
    } else {
      const Shape<4> shape{g, s.cin, s.h, s.w};
      copy(ctx, TensorView<float, 4>(inside, shape, padded), TensorView<const float, 4>(in.x + n0 * in.xs[0], shape, in.xs));
    }
  }

  // Stores one output pixel's Cout accumulators through the epilogue.
  template <class P>
  static void store_pixel(const P& p, index_t b, index_t row, const float* acc) {
    auto at = [&](index_t col) { return acc[col]; };
    for (index_t o = 0; o < p.n_out; ++o) *p.c.at(b, row, o) = convert<typename P::out_type>(p.output(at, b, row, o));
  }

  template <class P>
  static void winograd_group(const cpu::Context& ctx, const P& p, const cpu::ConvWeights& w, index_t n0, index_t g,
                             index_t hp, index_t wp, const float* stage) {
    namespace wg = cpu::winograd;
    const ConvShape& s = p.a.s;
    const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4, tiles = g * th * tw;
    const index_t blocks_wanted = std::max<index_t>(ctx.threads(), (tiles + cpu::conv_max_tile_block - 1) / cpu::conv_max_tile_block);
    const index_t tb = (tiles + blocks_wanted - 1) / blocks_wanted;
    const index_t blocks = (tiles + tb - 1) / tb;
    ctx.parallel_for(blocks, 1, [&](index_t b0, index_t b1) {
      std::vector<float> v(static_cast<std::size_t>(wg::positions * tb * s.cin));
      std::vector<float> m(static_cast<std::size_t>(wg::positions * tb * s.cout));
      std::vector<float> y(static_cast<std::size_t>(16 * s.cout));
      for (index_t blk = b0; blk < b1; ++blk) {
        const index_t t0 = blk * tb, nt = std::min(tb, tiles - t0);
        for (index_t t = 0; t < nt; ++t) {
          const index_t tile = t0 + t, gi = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
          const float* base = stage + ((gi * hp + 4 * ty) * wp + 4 * tx) * s.cin;
          wg::input_transform([&](int k, int l) { return base + (k * wp + l) * s.cin; },
                              [&](int pos) { return v.data() + (pos * tb + t) * s.cin; }, s.cin);
        }
        for (int pos = 0; pos < wg::positions; ++pos)
          cpu::ConvMap(m.data() + pos * tb * s.cout, nt, s.cout).noalias() =
              cpu::ConvConstMap(v.data() + pos * tb * s.cin, nt, s.cin) *
              cpu::ConvConstMap(w.winograd.data() + pos * s.cin * s.cout, s.cin, s.cout);
        for (index_t t = 0; t < nt; ++t) {
          const index_t tile = t0 + t, gi = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
          wg::output_transform([&](int pos) { return m.data() + (pos * tb + t) * s.cout; }, y.data(), s.cout);
          for (int i = 0; i < 4 && 4 * ty + i < s.h; ++i)
            for (int j = 0; j < 4 && 4 * tx + j < s.w; ++j)
              store_pixel(p, n0 + gi, (4 * ty + i) * s.w + 4 * tx + j, y.data() + (i * 4 + j) * s.cout);
        }
      }
    });
  }

  template <class P>
  static void im2col_group(const cpu::Context& ctx, const P& p, const cpu::ConvWeights& w, index_t n0, index_t g,
                           index_t hp, index_t wp, const float* stage) {
    const ConvShape& s = p.a.s;
    const index_t pixels = s.h * s.w, per_image = (pixels + cpu::conv_pixel_block - 1) / cpu::conv_pixel_block;
    const index_t kdim = s.k();
    ctx.parallel_for(g * per_image, 1, [&](index_t b0, index_t b1) {
      std::vector<float> col(static_cast<std::size_t>(cpu::conv_pixel_block * kdim));
      std::vector<float> acc(static_cast<std::size_t>(cpu::conv_pixel_block * s.cout));
      for (index_t blk = b0; blk < b1; ++blk) {
        const index_t gi = blk / per_image, q0 = blk % per_image * cpu::conv_pixel_block;
        const index_t nq = std::min(cpu::conv_pixel_block, pixels - q0);
        for (index_t q = 0; q < nq; ++q) {
          const index_t h = (q0 + q) / s.w, x = (q0 + q) % s.w;
          float* dst = col.data() + q * kdim;
          for (index_t ky = 0; ky < s.kh; ++ky)  // window rows start at (h + ky, x) in padded coordinates
            std::memcpy(dst + ky * s.kw * s.cin, stage + ((gi * hp + h + ky) * wp + x) * s.cin,
                        static_cast<std::size_t>(s.kw * s.cin) * sizeof(float));
        }
        cpu::ConvMap(acc.data(), nq, s.cout).noalias() =
            cpu::ConvConstMap(col.data(), nq, kdim) * cpu::ConvConstMap(w.gemm.data(), kdim, s.cout);
        for (index_t q = 0; q < nq; ++q) store_pixel(p, n0 + gi, q0 + q, acc.data() + q * s.cout);
      }
    });
  }
};

}  // namespace fusekit
