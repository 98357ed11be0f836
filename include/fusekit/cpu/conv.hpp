#pragma once
// CPU convolution (fp32). Images are processed in groups small enough for the cache; per group:
//  1. staging: the input prologue (the NormAct op, SIMD activation) is applied once per input element
//     while the group is copied into a zero-padded NHWC fp32 buffer (no bounds checks after this, and
//     NCHW input becomes channel-contiguous);
//  2. compute, in parallel over blocks of output pixels / tiles:
//     winograd (3x3): F(4x4, 3x3) input transform, 36 GEMMs [tiles x Cin] x [Cin x Cout], output
//                     transform, epilogue, store;
//     implicit_gemm:  an im2col block [pixels x K] from the staging buffer (for 1x1 kernels the staged
//                     pixels themselves), one GEMM with the [K x Cout] weight, epilogue, store.
// The GEMMs multiply with weights packed at load (cpu::packed_gemm), not re-packed per call.
// The epilogue runs on each block while it is in cache, a pixel's row at a time (cpu::store_row: the
// order of GemmParams::output, as in every GEMM backend, with activations in their SIMD form).
#include <algorithm>
#include <cstring>
#include <vector>

#include "fusekit/backend/cpu/context.hpp"
#include "fusekit/backend/cpu/scratch.hpp"
#include "fusekit/core/backend.hpp"
#include "fusekit/cpu/conv_weights.hpp"
#include "fusekit/cpu/epilogue_rows.hpp"
#include "fusekit/cpu/norm_act.hpp"
#include "fusekit/cpu/winograd.hpp"
#include "fusekit/ops/conv_params.hpp"
#include "fusekit/ops/copy.hpp"
#include "fusekit/ops/tags.hpp"

namespace fusekit {

namespace cpu {

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
      float* stage = cpu::scratch_floats<0>(group * image_floats);
      for (index_t n0 = 0; n0 < s.n; n0 += group) {
        const index_t g = std::min(group, s.n - n0);
        stage_images(ctx, p.a, n0, g, hp, wp, stage);
        if (wino && few_tiles_per_thread(ctx, s, g)) winograd_phases(ctx, p, w, n0, g, hp, wp, stage);
        else if (wino) winograd_group(ctx, p, w, n0, g, hp, wp, stage);
        else im2col_group(ctx, p, w, n0, g, hp, wp, stage);
      }
    }
  }

 private:
  // Images [n0, n0 + g) -> stage [g][hp][wp][cin], prologue applied (the NormAct op, SIMD activation),
  // zero padding around (only the padding is cleared: the inside is written).
  template <class Pro>
  static void stage_images(const cpu::Context& ctx, const ConvInput<float, Pro>& in, index_t n0, index_t g, index_t hp,
                           index_t wp, float* stage) {
    const ConvShape& s = in.s;
    const index_t pad = s.pad(), c = s.cin;
    float* inside = stage + (pad * wp + pad) * c;
    const Strides<4> padded{hp * wp * c, 1, wp * c, c};  // logical (n, c, h, w)
    const bool nhwc_rows = !Pro::active && in.xs[1] == 1 && in.xs[3] == c;
    // Padded rows (image i, row h) in parallel: the padding, and NHWC input rows copied in one memcpy each
    // (every convolution without a prologue stages its input, 2.2 MB for a batch of 8 at 192 channels:
    // on one thread, a serial part of every such convolution).
    ctx.parallel_for(g * hp, 8, [&](index_t r0, index_t r1) {
      for (index_t r = r0; r < r1; ++r) {
        const index_t i = r / hp, h = r % hp;
        float* row = stage + i * hp * wp * c + h * wp * c;
        if (h < pad || h >= pad + s.h) {  // rows above and below
          std::fill(row, row + wp * c, 0.f);
          continue;
        }
        std::fill(row, row + pad * c, 0.f);  // left and right of the row
        std::fill(row + (pad + s.w) * c, row + wp * c, 0.f);
        if (nhwc_rows)
          std::memcpy(row + pad * c, in.x + (n0 + i) * in.xs[0] + (h - pad) * in.xs[2],
                      static_cast<std::size_t>(s.w * c) * sizeof(float));
      }
    });
    if constexpr (Pro::active) {
      OpImpl<op::NormAct, CpuBackend>::run(ctx, prologue_norm_act(in, inside, padded, n0, g), in.pro.act);
    } else if (!nhwc_rows) {  // (NHWC rows were copied above)
      const Shape<4> shape{g, c, s.h, s.w};
      copy(ctx, TensorView<float, 4>(inside, shape, padded), TensorView<const float, 4>(in.x + n0 * in.xs[0], shape, in.xs));
    }
  }

  // Stores one output pixel's accumulators (all Cout, or output columns [o0, o1)) through the epilogue.
  template <class P>
  static void store_pixel(const P& p, index_t b, index_t row, const float* acc, index_t o0 = 0, index_t o1 = -1) {
    if constexpr (P::epilogue_type::gated) cpu::store_row(p, b, row, acc, 0, p.n_out);  // never split by column
    else cpu::store_row(p, b, row, acc + o0, o0, o1 < 0 ? p.n_out : o1);
  }

  // Into how many column ranges (of whole weight panels) a GEMM of `items` row blocks is split, so that
  // `threads` threads have about four items each: at batch 1 a 1x1 conv has 6 pixel blocks, and 16
  // threads would otherwise leave 10 idle. Gated epilogues read two columns per output: not split.
  template <class P>
  static index_t column_chunks(const cpu::Context& ctx, index_t items, index_t panels) {
    if (P::epilogue_type::gated || ctx.threads() <= 1) return 1;
    return std::clamp<index_t>((4 * ctx.threads() + items - 1) / items, 1, panels);
  }
  // Output columns of chunk c of `chunks` over the panels of w: [o0, o1).
  struct ColumnChunk {
    index_t p0, p1, o0, o1;
  };
  static ColumnChunk column_chunk(const cpu::PackedMatrix& w, index_t c, index_t chunks) {
    const index_t panels = cpu::panels(w), p0 = c * panels / chunks, p1 = (c + 1) * panels / chunks;
    return {p0, p1, p0 * cpu::packed::nr, std::min(p1 * cpu::packed::nr, w.n)};
  }

  // Winograd tile `tile` of a group (tiles numbered image by image, row by row): the input transform of
  // its 6x6 window of the staging buffer into dst(pos) ...
  template <class Dst>
  static void tile_input(const ConvShape& s, index_t tile, index_t hp, index_t wp, const float* stage, Dst dst) {
    const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4;
    const index_t gi = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
    const float* base = stage + ((gi * hp + 4 * ty) * wp + 4 * tx) * s.cin;
    cpu::winograd::input_transform([&](int k, int l) { return base + (k * wp + l) * s.cin; }, dst, s.cin);
  }
  // ... and the output transform of its 36 products src(pos) (through y, 16 x Cout), epilogue, store.
  template <class P, class Src>
  static void tile_output(const P& p, index_t n0, index_t tile, Src src, float* y) {
    const ConvShape& s = p.a.s;
    const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4;
    const index_t gi = tile / (th * tw), ty = tile / tw % th, tx = tile % tw;
    cpu::winograd::output_transform(src, y, s.cout);
    for (int i = 0; i < 4 && 4 * ty + i < s.h; ++i)
      for (int j = 0; j < 4 && 4 * tx + j < s.w; ++j)
        store_pixel(p, n0 + gi, (4 * ty + i) * s.w + 4 * tx + j, y + (i * 4 + j) * s.cout);
  }

  // Fewer than 8 Winograd tiles per thread: the three-pass form. Measured on a 16-core Xeon (b18c384nbt,
  // 16 threads): batch 1 (25 tiles per image) 80 ms against 98 ms single-pass; batch 8 (200 tiles)
  // 390 ms against 206 ms, where the single pass keeps each thread's tiles in its own cache and the
  // three passes move them between cores.
  static bool few_tiles_per_thread(const cpu::Context& ctx, const ConvShape& s, index_t g) {
    return ctx.threads() > 1 && g * ((s.h + 3) / 4) * ((s.w + 3) / 4) < 8 * index_t{ctx.threads()};
  }

  // Winograd for several threads with few tiles each, in three passes over all tiles of the group: input
  // transforms (over tiles), the 36 GEMMs (over positions x column ranges), output transforms and
  // epilogue (over tiles).
  // The single-pass form (winograd_group) gives each thread whole tiles, so every thread streams all 36
  // transformed weights (5.3 MB for 192 channels) for its tiles: at batch 1 and 16 threads, for two
  // tiles each. Here each weight byte is read once.
  template <class P>
  static void winograd_phases(const cpu::Context& ctx, const P& p, const cpu::ConvWeights& w, index_t n0, index_t g,
                              index_t hp, index_t wp, const float* stage) {
    namespace wg = cpu::winograd;
    const ConvShape& s = p.a.s;
    const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4, tiles = g * th * tw;
    float* v = cpu::scratch_floats<4>(wg::positions * tiles * s.cin);   // [position][tile][cin]
    float* m = cpu::scratch_floats<5>(wg::positions * tiles * s.cout);  // [position][tile][cout]
    ctx.parallel_for(tiles, 4, [&](index_t t0, index_t t1) {
      for (index_t t = t0; t < t1; ++t)
        tile_input(s, t, hp, wp, stage, [&](int pos) { return v + (pos * tiles + t) * s.cin; });
    });
    const index_t chunks = column_chunks<P>(ctx, wg::positions, cpu::panels(w.winograd[0]));
    ctx.parallel_for(wg::positions * chunks, 1, [&](index_t i0, index_t i1) {
      for (index_t i = i0; i < i1; ++i) {
        const index_t pos = i / chunks;
        const ColumnChunk c = column_chunk(w.winograd[pos], i % chunks, chunks);
        cpu::packed_gemm(v + pos * tiles * s.cin, s.cin, w.winograd[pos], m + pos * tiles * s.cout, s.cout, tiles,
                         c.p0, c.p1);
      }
    });
    ctx.parallel_for(tiles, 2, [&](index_t t0, index_t t1) {
      float* y = cpu::scratch_floats<3>(16 * s.cout);
      for (index_t t = t0; t < t1; ++t)
        tile_output(p, n0, t, [&](int pos) { return m + (pos * tiles + t) * s.cout; }, y);
    });
  }

  template <class P>
  static void winograd_group(const cpu::Context& ctx, const P& p, const cpu::ConvWeights& w, index_t n0, index_t g,
                             index_t hp, index_t wp, const float* stage) {
    namespace wg = cpu::winograd;
    const ConvShape& s = p.a.s;
    const index_t th = (s.h + 3) / 4, tw = (s.w + 3) / 4, tiles = g * th * tw;
    // Blocks of at most conv_max_tile_block tiles, as many for every thread: 3 blocks of 67 tiles on 2
    // threads (batch 8) left one thread a third of the work (2 threads ran 1.5x one), and 17 blocks on 16
    // threads (batch 64) ran in two rounds on 9 of them.
    const index_t threads = ctx.threads(), per_round = cpu::conv_max_tile_block * threads;
    const index_t blocks_wanted = threads * std::max<index_t>(1, (tiles + per_round - 1) / per_round);
    const index_t tb = (tiles + blocks_wanted - 1) / blocks_wanted;
    const index_t blocks = (tiles + tb - 1) / tb;
    ctx.parallel_for(blocks, 1, [&](index_t b0, index_t b1) {
      float* v = cpu::scratch_floats<1>(wg::positions * tb * s.cin);
      float* m = cpu::scratch_floats<2>(wg::positions * tb * s.cout);
      float* y = cpu::scratch_floats<3>(16 * s.cout);
      for (index_t blk = b0; blk < b1; ++blk) {
        const index_t t0 = blk * tb, nt = std::min(tb, tiles - t0);
        for (index_t t = 0; t < nt; ++t)
          tile_input(s, t0 + t, hp, wp, stage, [&](int pos) { return v + (pos * tb + t) * s.cin; });
        for (int pos = 0; pos < wg::positions; ++pos)
          cpu::packed_gemm(v + pos * tb * s.cin, s.cin, w.winograd[pos], m + pos * tb * s.cout, s.cout, nt);
        for (index_t t = 0; t < nt; ++t)
          tile_output(p, n0, t0 + t, [&](int pos) { return m + (pos * tb + t) * s.cout; }, y);
      }
    });
  }

  template <class P>
  static void im2col_group(const cpu::Context& ctx, const P& p, const cpu::ConvWeights& w, index_t n0, index_t g,
                           index_t hp, index_t wp, const float* stage) {
    const ConvShape& s = p.a.s;
    const index_t pixels = s.h * s.w, per_image = (pixels + cpu::conv_pixel_block - 1) / cpu::conv_pixel_block;
    const index_t kdim = s.k(), blocks = g * per_image;
    const index_t chunks = column_chunks<P>(ctx, blocks, cpu::panels(w.gemm));
    ctx.parallel_for(blocks * chunks, 1, [&](index_t i0, index_t i1) {
      float* col = cpu::scratch_floats<1>(cpu::conv_pixel_block * kdim);
      float* acc = cpu::scratch_floats<2>(cpu::conv_pixel_block * s.cout);
      for (index_t i = i0; i < i1; ++i) {
        const index_t blk = i / chunks;
        const ColumnChunk c = chunks > 1 ? column_chunk(w.gemm, i % chunks, chunks) : ColumnChunk{0, -1, 0, -1};
        const index_t gi = blk / per_image, q0 = blk % per_image * cpu::conv_pixel_block;
        const index_t nq = std::min(cpu::conv_pixel_block, pixels - q0);
        const float* a = stage + (gi * pixels + q0) * s.cin;  // 1x1: the staged pixels are A's rows
        if (s.kh > 1) {
          for (index_t q = 0; q < nq; ++q) {
            const index_t h = (q0 + q) / s.w, x = (q0 + q) % s.w;
            float* dst = col + q * kdim;
            for (index_t ky = 0; ky < s.kh; ++ky)  // window rows start at (h + ky, x) in padded coordinates
              std::memcpy(dst + ky * s.kw * s.cin, stage + ((gi * hp + h + ky) * wp + x) * s.cin,
                          static_cast<std::size_t>(s.kw * s.cin) * sizeof(float));
          }
          a = col;
        }
        cpu::packed_gemm(a, kdim, w.gemm, acc, s.cout, nq, c.p0, c.p1);
        for (index_t q = 0; q < nq; ++q) store_pixel(p, n0 + gi, q0 + q, acc + q * s.cout, c.o0, c.o1);
      }
    });
  }
};

}  // namespace fusekit
