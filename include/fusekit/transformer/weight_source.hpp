#pragma once
// Where a model's weights come from, by HuggingFace tensor name:
//   SafeTensorsSource   one or more .safetensors files (shards), names optionally prefixed
//                       ("paligemma_with_expert.paligemma.model.language_model." ...)
//   RandomSource        deterministic random weights from a seed (examples, benchmarks, tests): each tensor's
//                       values depend only on the seed and its name, so load order does not matter
// Builders ask for fp32 values of an exact shape; a missing or misshapen tensor is an error naming both.
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "fusekit/core/tensor.hpp"
#include "fusekit/io/safetensors.hpp"
#if FUSEKIT_GPUCC
#include "fusekit/ops/transfer.hpp"
#endif

namespace fusekit::transformer {

// How random weights are drawn (a real file ignores it).
enum class Init {
  fan_in,   // uniform in +-1/sqrt(fan_in) (the last extent): projections
  small,    // uniform in +-0.1: biases, Gemma's (1 + w) norm weights
  one,      // 1 + uniform in +-0.1: LayerNorm weights
  normal,   // uniform in +-1: embeddings
};

class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual HostTensor<float, 1> get(const std::string& name, const std::vector<index_t>& shape, Init init) const = 0;
  virtual std::string describe() const = 0;

  // The values as a rank-R host tensor of shape `shape`.
  template <std::size_t R>
  HostTensor<float, R> tensor(const std::string& name, const Shape<R>& shape, Init init) const {
    const HostTensor<float, 1> flat = get(name, std::vector<index_t>(&shape[0], &shape[0] + R), init);
    HostTensor<float, R> t(shape);
    std::copy(flat.data(), flat.data() + flat.numel(), t.data());
    return t;
  }
};

class SafeTensorsSource : public WeightSource {
 public:
  explicit SafeTensorsSource(const std::vector<std::string>& paths, std::string prefix = "") : prefix_(std::move(prefix)) {
    for (const auto& p : paths) files_.push_back(io::SafeTensors::open(p));
  }
  explicit SafeTensorsSource(io::SafeTensors file, std::string prefix = "") : prefix_(std::move(prefix)) {
    files_.push_back(std::move(file));
  }

  HostTensor<float, 1> get(const std::string& name, const std::vector<index_t>& shape, Init) const override {
    const std::string full = prefix_ + name;
    for (const auto& f : files_)
      if (const auto* info = f.find(full)) {
        FUSEKIT_CHECK(info->shape == shape, "weights {}: tensor '{}' has shape [{}], the model expects [{}]", f.source(),
                      full, fmt::join(info->shape, ", "), fmt::join(shape, ", "));
        return f.load_flat<float>(full);
      }
    fail("weights {}: no tensor named '{}'", describe(), full);
  }

  std::string describe() const override {
    std::string s;
    for (const auto& f : files_) s += (s.empty() ? "" : ", ") + f.source();
    return s;
  }

 private:
  std::vector<io::SafeTensors> files_;
  std::string prefix_;
};

class RandomSource : public WeightSource {
 public:
  explicit RandomSource(std::uint64_t seed = 1) : seed_(seed) {}

  HostTensor<float, 1> get(const std::string& name, const std::vector<index_t>& shape, Init init) const override {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    std::uint64_t h = 1469598103934665603ull ^ seed_;  // FNV-1a of the name, seeded
    for (unsigned char c : name) h = (h ^ c) * 1099511628211ull;
    const double bound = init == Init::fan_in ? 1.0 / std::sqrt(static_cast<double>(shape.empty() ? 1 : shape.back()))
                         : init == Init::normal ? 1.0
                                                : 0.1;
    const float base = init == Init::one ? 1.f : 0.f;
    HostTensor<float, 1> t(Shape<1>{n});
    // splitmix64 per element: cheap enough for billions of weights (a Pi0-sized model loads in seconds)
    for (index_t i = 0; i < n; ++i) {
      std::uint64_t z = h + static_cast<std::uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      const double u = static_cast<double>(z >> 11) * 0x1.0p-53 * 2.0 - 1.0;  // [-1, 1)
      t.data()[i] = base + static_cast<float>(bound * u);
    }
    return t;
  }

  std::string describe() const override { return fmt::format("random weights (seed {})", seed_); }

 private:
  std::uint64_t seed_;
};

// A host tensor converted to T and placed in ctx's memory space.
template <class T, class Ctx, std::size_t R>
Tensor<T, R, typename Ctx::space> place(Ctx& ctx, const HostTensor<float, R>& h) {
  HostTensor<T, R> t(h.shape());
  for (index_t i = 0; i < h.numel(); ++i) t.data()[i] = convert<T>(h.data()[i]);
  if constexpr (std::is_same_v<typename Ctx::space, HostSpace>) {
    (void)ctx;
    return t;
  } else {
#if FUSEKIT_GPUCC
    return to_device(ctx, t);
#endif
  }
}

}  // namespace fusekit::transformer
