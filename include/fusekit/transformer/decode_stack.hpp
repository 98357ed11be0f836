#pragma once
// A Gemma expert's decode step as one persistent kernel (kernels/decode_stack.hpp): every layer of
// gemma_forward for a few new tokens (<= 16) against the KV cache, in one launch instead of six per layer.
// NVIDIA sm_90a only, bf16, batch 1, and one shape family, Pi0's action expert: hidden 1024, heads of 256,
// one KV head, an even number of query heads (at most 16) and an MLP width that are multiples of 1024 / 256
// as the kernel's items need. `DecodeStack::unsupported` says why another model or GPU cannot take it;
// callers then run gemma_forward (pi0.hpp does).
//
// Same results as gemma_forward up to rounding: the residual stream stays fp32 inside the kernel (T
// between layers in gemma_forward), the norm's 1 / rms scales the products of x rounded to T (and is
// computed from that rounding), and the order in which partial sums reach the residual is not fixed.
#include <algorithm>
#include <string>
#include <vector>

#include "fusekit/kernels/decode_stack.hpp"
#include "fusekit/transformer/gemma.hpp"

namespace fusekit::transformer {

#if FUSEKIT_GPUCC && FUSEKIT_VENDOR_CUDA
class DecodeStack {
 public:
  using T = bfloat16;
  using Space = DeviceSpace;
  using Dims = kernels::DecodeStackDims;

  // Empty when the kernel can run this model's step here; otherwise why not.
  static std::string unsupported(const GemmaConfig& c, index_t batch, index_t tokens, const hip::Device& dev) {
    if (dev.arch != "sm_90") return fmt::format("needs an NVIDIA sm_90 GPU (this is {})", dev.arch);
    std::size_t stat = 0;
    FUSEKIT_GPU_CHECK(gpu::func_static_smem(kernels::decode_stack_kernel, &stat));
    if (stat == 0) return "this build has no sm_90a code for it (CMAKE_CUDA_ARCHITECTURES=90a)";
    if (dev.shared_memory_per_block_optin < static_cast<std::size_t>(kernels::decode_stack::smem_bytes) + stat)
      return fmt::format("needs {} bytes of shared memory per block", kernels::decode_stack::smem_bytes + stat);
    if (batch != 1) return fmt::format("takes batch 1 (got {})", batch);
    if (tokens < 1 || tokens > Dims::max_tokens) return fmt::format("takes 1 to {} new tokens (got {})", Dims::max_tokens, tokens);
    if (c.hidden != Dims::hidden || c.head_dim != Dims::head_dim || c.kv_heads != 1)
      return fmt::format("takes hidden {}, head_dim {}, one KV head (got {}, {}, {})", Dims::hidden, Dims::head_dim, c.hidden,
                         c.head_dim, c.kv_heads);
    if (c.heads % 2 != 0 || c.heads > Dims::max_heads || c.heads * c.head_dim % Dims::kc != 0)
      return fmt::format("takes an even number of query heads up to {} whose width is a multiple of {} (got {})",
                         Dims::max_heads, Dims::kc, c.heads);
    if (c.mlp % Dims::kc != 0) return fmt::format("takes an MLP width that is a multiple of {} (got {})", Dims::kc, c.mlp);
    return {};
  }

  DecodeStack() = default;
  // Buffers for steps of up to `tokens` new tokens attending to at most `max_kv` keys of `cache`.
  DecodeStack(hip::Stream& s, const Gemma<T, Space>& model, KVCache<T, Space>& cache, index_t tokens, index_t max_kv)
      : cfg_(model.cfg), tokens_(tokens), max_kv_(max_kv) {
    const std::string why = unsupported(cfg_, cache.batch(), tokens, s.device());
    FUSEKIT_CHECK(why.empty(), "DecodeStack: {}", why);
    FUSEKIT_CHECK(cache.layers() == cfg_.layers && cache.kv_heads() == 1 && cache.head_dim() == cfg_.head_dim &&
                      max_kv <= cache.capacity(),
                  "DecodeStack: the KV cache [{} layers, {} KV heads of {}, capacity {}] does not fit the model [{}, 1, {}] "
                  "and {} keys", cache.layers(), cache.kv_heads(), cache.head_dim(), cache.capacity(), cfg_.layers,
                  cfg_.head_dim, max_kv);
    std::vector<kernels::DecodeStackLayer> lw;
    auto u16 = [](const auto* p) { return reinterpret_cast<const std::uint16_t*>(p); };
    for (index_t l = 0; l < cfg_.layers; ++l) {
      const GemmaLayer<T, Space>& L = model.layers[l];
      lw.push_back({u16(L.qkv.w.data()), u16(L.o.w.data()), u16(L.gate_up.w.data()), u16(L.down.w.data()),
                    reinterpret_cast<std::uint16_t*>(cache.k(l).data()), reinterpret_cast<std::uint16_t*>(cache.v(l).data())});
    }
    const index_t L = std::max<index_t>(cfg_.layers, 1), tiles = (max_kv + kernels::decode_stack::KT - 1) / kernels::decode_stack::KT;
    layers_ = Tensor<std::uint8_t, 1, Space>(Shape<1>{L * static_cast<index_t>(sizeof(kernels::DecodeStackLayer))}, s);
    if (!lw.empty())
      FUSEKIT_GPU_CHECK(gpu::memcpy_h2d_async(layers_.data(), lw.data(), lw.size() * sizeof lw[0], s.get()));
    s.synchronize();  // lw is freed on return
    const index_t rows = cfg_.heads * tokens;
    x_ = Tensor<float, 2, Space>({tokens, cfg_.hidden}, s);
    part_ = Tensor<float, 1, Space>(Shape<1>{tiles * rows * cfg_.head_dim}, s);
    ml_ = Tensor<float, 1, Space>(Shape<1>{tiles * rows * 2}, s);
    qbuf_ = Tensor<T, 2, Space>({kMaxReplicas * tokens, cfg_.q_width()}, s);
    attn_ = Tensor<T, 2, Space>({kMaxReplicas * tokens, cfg_.q_width()}, s);
    h_ = Tensor<T, 2, Space>({kMaxReplicas * tokens, cfg_.mlp}, s);
    xb_ = Tensor<T, 2, Space>({kMaxReplicas * tokens, cfg_.hidden}, s);
    counter_ = Tensor<std::int32_t, 1, Space>(Shape<1>{kCounters}, s);
    FUSEKIT_GPU_CHECK(gpu::func_set_max_dynamic_smem(kernels::decode_stack_kernel, kernels::decode_stack::smem_bytes));
    int per_sm = 0;
    FUSEKIT_GPU_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernels::decode_stack_kernel,
                                                                    kernels::decode_stack::threads,
                                                                    kernels::decode_stack::smem_bytes));
    FUSEKIT_CHECK(per_sm >= 1, "DecodeStack: the kernel does not fit a multiprocessor");
    blocks_ = s.device().multiprocessors;
    for (int j = 0; j < Dims::head_dim / 2; ++j) inv_freq_[j] = rope_inv_freq(cfg_.rope_theta, j, Dims::head_dim);
  }

  // x [1, n, hidden] (dense), updated in place: gemma_forward(segs = {{model, x}}, cache, at) for this model.
  // at.positions [1, n]; at.masks.kv_end [1, n] or empty; keys [0, at.start + n) of the cache.
  void run(hip::Stream& s, TensorView<T, 3, Space> x, const StepAttention<Space>& at) {
    const index_t n = x.size(1), kv = at.start + n;
    FUSEKIT_CHECK(blocks_ > 0, "DecodeStack::run: not constructed");
    FUSEKIT_CHECK(x.size(0) == 1 && n >= 1 && n <= tokens_ && x.size(2) == cfg_.hidden && x.stride(2) == 1 &&
                      x.stride(1) == cfg_.hidden,
                  "DecodeStack::run: x must be a dense [1, 1..{}, {}] tensor, got {} (strides {})", tokens_, cfg_.hidden,
                  x.shape(), x.strides());
    FUSEKIT_CHECK(at.start >= 0 && kv <= max_kv_, "DecodeStack::run: {} new tokens at slot {} exceed the {} keys it was sized for",
                  n, at.start, max_kv_);
    FUSEKIT_CHECK(!at.causal && at.masks.kv_lens.empty(), "DecodeStack::run: masks are kv_end rows only (no causal, no kv_lens)");
    FUSEKIT_CHECK(at.positions.size(0) == 1 && at.positions.size(1) == n && at.positions.stride(1) == 1,
                  "DecodeStack::run: positions must be a dense [1, {}] tensor, got {}", n, at.positions.shape());
    const bool ends = !at.masks.kv_end.empty();
    FUSEKIT_CHECK(!ends || (at.masks.kv_end.size(0) == 1 && at.masks.kv_end.size(1) == n && at.masks.kv_end.stride(1) == 1),
                  "DecodeStack::run: kv_end must be a dense [1, {}] tensor, got {}", n, at.masks.kv_end.shape());
    kernels::DecodeStackParams p{};
    p.layers = reinterpret_cast<const kernels::DecodeStackLayer*>(layers_.data());
    p.L = static_cast<int>(cfg_.layers), p.n = static_cast<int>(n), p.start = static_cast<int>(at.start), p.kv = static_cast<int>(kv);
    p.heads = static_cast<int>(cfg_.heads), p.mlp = static_cast<int>(cfg_.mlp);
    p.pos = at.positions.data(), p.kv_end = ends ? at.masks.kv_end.data() : nullptr;
    p.eps = cfg_.eps;
    p.scale_log2 = static_cast<float>(1.0 / std::sqrt(static_cast<double>(cfg_.head_dim)) * 1.4426950408889634);
    p.x_in = reinterpret_cast<const std::uint16_t*>(x.data());
    p.x_out = reinterpret_cast<std::uint16_t*>(x.data());
    p.x = x_.data();
    p.xb = reinterpret_cast<std::uint16_t*>(xb_.data());
    p.tiles_done = reinterpret_cast<unsigned*>(counter_.data()) + kTilesDone;
    FUSEKIT_CHECK(bulk_stage >= 0 && bulk_stage <= 3, "DecodeStack::run: bulk_stage takes bits 0 and 1 (got {})", bulk_stage);
    p.bulk_stage = bulk_stage;
    FUSEKIT_CHECK(replicas >= 1 && replicas <= kMaxReplicas, "DecodeStack::run: replicas must be 1..{} (got {})", kMaxReplicas,
                  replicas);
    p.replicas = replicas;
    p.pipelined = pipelined;
    p.qbuf = reinterpret_cast<std::uint16_t*>(qbuf_.data()), p.attn = reinterpret_cast<std::uint16_t*>(attn_.data());
    p.h = reinterpret_cast<std::uint16_t*>(h_.data());
    p.part = part_.data(), p.ml = ml_.data();
    p.counter = reinterpret_cast<unsigned*>(counter_.data());
    FUSEKIT_CHECK(barrier_ways >= 1 && barrier_ways <= kBarrierWays, "DecodeStack::run: barrier_ways must be 1..{} (got {})",
                  kBarrierWays, barrier_ways);
    p.barrier_ways = barrier_ways;
    p.trace = trace;
    p.l2_ahead = l2_ahead;
    std::copy(inv_freq_, inv_freq_ + Dims::head_dim / 2, p.inv_freq);
    FUSEKIT_GPU_CHECK(gpu::memset_async(counter_.data(), 0, kCounters * sizeof(std::int32_t), s.get()));
    // Every block must be resident at once (they meet at grid barriers): a cooperative launch of one
    // block per multiprocessor, which the runtime refuses rather than deadlocks if they would not fit.
    cudaLaunchConfig_t c{};
    c.gridDim = dim3(static_cast<unsigned>(blocks_)), c.blockDim = dim3(kernels::decode_stack::threads);
    c.dynamicSmemBytes = kernels::decode_stack::smem_bytes, c.stream = s.get();
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeCooperative;
    attr.val.cooperative = 1;
    c.attrs = &attr, c.numAttrs = 1;
    FUSEKIT_GPU_CHECK(cudaLaunchKernelEx(&c, kernels::decode_stack_kernel, p));
    FUSEKIT_GPU_CHECK(gpu::get_last_error());
  }

  // Profiling: when set, [blocks][1024][2] globaltimer stamps (ns) of each block's arrival at and release
  // from every grid barrier (bench/experiments/decode_megakernel.cu reads them).
  unsigned long long* trace = nullptr;
  // Items whose weights the producer sends to L2 ahead of its shared-memory copies (0: none; 4, 8, 16 measured
  // slower on an H200: docs/performance.md).
  int l2_ahead = 0;
  // What one thread's 1-D bulk copies stage (the rest every thread's 16-byte loads): bit 0 the activation
  // rows of the GEMM phases, bit 1 an attention item's Q rows. Default 1: on an H100 bulk copies cut the
  // GEMM phases' staging by a quarter but made an attention item 1.5 us slower (docs/performance.md).
  int bulk_stage = 1;
  // Copies of the activation buffers every block stages (1..8): block b reads copy b % replicas. More than
  // one measured no faster on an H100.
  int replicas = 1;
  // Grid-barrier counters (1..8): block b arrives on counter b % barrier_ways, every block reads them all.
  // More than one measured no faster on an H100.
  int barrier_ways = 1;
  // A GEMM item's epilogue overlaps the next item's products (partials double-buffered).
  int pipelined = 1;
  int blocks() const { return blocks_; }

 private:
  static constexpr index_t kMaxReplicas = 8;
  // counter_: the grid barrier's counters, 128 bytes apart, then the O and DOWN column tiles' share counts
  static constexpr index_t kBarrierWays = 8, kTilesDone = 32 * kBarrierWays, kCounters = kTilesDone + 2 * Dims::hidden / 16;
  GemmaConfig cfg_;
  index_t tokens_ = 0, max_kv_ = 0;
  int blocks_ = 0;
  float inv_freq_[Dims::head_dim / 2] = {};
  Tensor<std::uint8_t, 1, Space> layers_;
  Tensor<float, 2, Space> x_;
  Tensor<float, 1, Space> part_, ml_;
  Tensor<T, 2, Space> qbuf_, attn_, h_, xb_;
  Tensor<std::int32_t, 1, Space> counter_;
};
#endif

}  // namespace fusekit::transformer
