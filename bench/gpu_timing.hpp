#pragma once
// Timing for the GPU benchmarks: device events around batches of back-to-back calls, warm-up, medians,
// the same batch replayed from a graph, and deterministic non-constant inputs.
#include <algorithm>
#include <functional>
#include <vector>

#include <fusekit/fusekit.hpp>

namespace fusekit::bench {

struct Timing {
  double median_us, min_us;  // per call, launched one by one on the stream
  double graph_us;           // per call, the same calls captured once in a graph and replayed
};

// Events bracket batches of `batch` back-to-back calls (rotating through the input sets), so the
// ~2-4 us an event pair adds around a lone launch does not count against short kernels; medians over
// `reps` batches. Then the same batch is captured in a graph and its replays are timed the same way:
// that is how a captured network runs the op.
Timing time_us(hip::Stream& s, int sets, int reps, const std::function<void(int)>& fn, int batch = 10) {
  auto median_of = [&](const std::function<void()>& one_batch) {
    std::vector<hip::Event> start(reps), stop(reps);
    for (int i = 0; i < reps; ++i) {
      start[i].record(s);
      one_batch();
      stop[i].record(s);
    }
    s.synchronize();
    std::vector<double> t(reps);
    for (int i = 0; i < reps; ++i) t[i] = 1e3 * hip::Event::elapsed_ms(start[i], stop[i]) / batch;
    std::sort(t.begin(), t.end());
    return std::pair{t[reps / 2], t[0]};
  };
  for (int i = 0; i < 2 * batch; ++i) fn(i % sets);  // warm-up
  int k = 0;
  const auto [med, mn] = median_of([&] {
    for (int j = 0; j < batch; ++j) fn(k++ % sets);
  });
  const hip::Graph g = hip::capture(s, [&](hip::Stream&) {
    for (int j = 0; j < batch; ++j) fn(j % sets);
  });
  for (int i = 0; i < 3; ++i) g.replay(s);
  const auto [gmed, gmn] = median_of([&] { g.replay(s); });
  (void)gmn;
  return {med, mn, gmed};
}

// Sets of inputs needed so that one pass over all of them is at least 3x the L2 size.
int sets_for(std::size_t bytes_per_set, const hip::Device& d) {
  return static_cast<int>(std::clamp<std::size_t>(3 * d.l2_bytes / std::max<std::size_t>(bytes_per_set, 1) + 1, 2, 32));
}

// Deterministic, non-constant inputs (never time on zeros or constants): a cheap hash of the index,
// uniform in [-2, 2), written on the host and copied once.
template <class T, std::size_t R>
DeviceTensor<T, R> pattern_tensor(hip::Stream& s, const Shape<R>& shape, std::uint64_t salt) {
  HostTensor<T, R> h(shape);
  for (index_t i = 0; i < h.numel(); ++i) {
    const std::uint64_t k = (static_cast<std::uint64_t>(i) + salt * 0x9E3779B97F4A7C15ull) * 0xD6E8FEB86659FD93ull;
    h.data()[i] = convert<T>(static_cast<double>(k >> 40) / static_cast<double>(1ull << 24) * 4.0 - 2.0);
  }
  return to_device(s, h);
}

}  // namespace fusekit::bench
