// Attention benchmark on the GPU: the shapes issue #5 names (Pi0 decode step, Pi0 prefill, SigLIP, long
// causal) plus what the kernel choice depends on. Device events around batches of calls, medians, and the
// same calls replayed from a graph (how a captured model runs them); TFLOP/s counts 4 B H Sq Skv D over
// the visible (query, key) pairs only.
//   fusekit_attention_bench [--json FILE] [--reps N] [--splits N] [--tiles N] [--combine cluster|workspace] [--row NAME]
#include <cstdio>
#include <string>
#include <vector>

#include <fusekit/fusekit.hpp>

#include "gpu_timing.hpp"

using namespace fusekit;
using namespace fusekit::bench;

namespace {

struct Row {
  const char* name;
  index_t batch, q_len, kv_len, q_heads, kv_heads, dim;
  bool causal;
  index_t padded_len;   // > 0: key padding, every entry keeps this many keys
  bool block_mask;      // Pi0: row 0 sees kv_len - q_len + 1 keys, the others all
};

const Row kRows[] = {
    {"pi0_decode", 1, 11, 799, 8, 1, 256, false, 0, true},
    {"pi0_prefill", 1, 788, 788, 8, 1, 256, false, 760, false},
    {"siglip", 3, 256, 256, 16, 16, 72, false, 0, false},
    {"long_causal", 8, 4096, 4096, 16, 16, 128, true, 0, false},
    {"decode_b1_gqa", 1, 1, 4096, 32, 8, 128, true, 0, false},
    {"prefill_1k", 4, 1024, 1024, 16, 16, 64, true, 0, false},
};

double visible_pairs(const Row& r) {
  double pairs = 0;
  const index_t kn = r.padded_len > 0 ? r.padded_len : r.kv_len;
  for (index_t i = 0; i < r.q_len; ++i) {
    index_t e = kn;
    if (r.block_mask && i == 0) e = std::min(e, r.kv_len - r.q_len + 1);
    if (r.causal) e = std::min(e, i + kn - r.q_len + 1);
    pairs += static_cast<double>(std::max<index_t>(e, 0));
  }
  return pairs * static_cast<double>(r.batch * r.q_heads);
}

template <class T>
void run_row(hip::Stream& s, const Row& r, int reps, int splits, int tiles, AttentionSplitCombine combine, std::FILE* json,
             bool& first) {
  const hip::Device& dev = s.device();
  const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(r.batch) *
                            (2 * r.q_len * r.q_heads + 2 * r.kv_len * r.kv_heads) * r.dim;
  const int sets = std::min(sets_for(bytes, dev), 8);
  std::vector<DeviceTensor<T, 4>> q, k, v, o;
  for (int i = 0; i < sets; ++i) {
    q.push_back(pattern_tensor<T, 4>(s, {r.batch, r.q_len, r.q_heads, r.dim}, 100 + i));
    k.push_back(pattern_tensor<T, 4>(s, {r.batch, r.kv_len, r.kv_heads, r.dim}, 200 + i));
    v.push_back(pattern_tensor<T, 4>(s, {r.batch, r.kv_len, r.kv_heads, r.dim}, 300 + i));
    o.emplace_back(Shape<4>{r.batch, r.q_len, r.q_heads, r.dim}, s);
  }
  HostTensor<std::int32_t, 1> lens({r.batch});
  HostTensor<std::int32_t, 2> ends({r.batch, r.q_len});
  for (index_t b = 0; b < r.batch; ++b) {
    lens(b) = static_cast<std::int32_t>(r.padded_len);
    for (index_t i = 0; i < r.q_len; ++i) ends(b, i) = static_cast<std::int32_t>(i == 0 ? r.kv_len - r.q_len + 1 : r.kv_len);
  }
  const auto dlens = to_device(s, lens);
  const auto dends = to_device(s, ends);
  AttentionMasks<DeviceSpace> masks;
  if (r.padded_len > 0) masks.kv_lens = dlens.view();
  if (r.block_mask) masks.kv_end = dends.view();
  const AttentionOptions opt{.causal = r.causal, .kv_splits = splits, .tiles = tiles, .combine = combine};
  const Timing t = time_us(s, sets, reps, [&](int i) { attention(s, o[i], q[i], k[i], v[i], masks, opt); });
  const double best = std::min(t.median_us, t.graph_us);
  const double tflops = 4.0 * visible_pairs(r) * static_cast<double>(r.dim) / (best * 1e-6) / 1e12;
  const auto shape = fmt::format("[{}, {}, {}/{}, {}] kv {}{}{}{}", r.batch, r.q_len, r.q_heads, r.kv_heads, r.dim, r.kv_len,
                                 r.causal ? " causal" : "", r.padded_len ? fmt::format(" keys {}", r.padded_len) : "",
                                 r.block_mask ? " block-mask" : "");
  fmt::print("{:<14} {:<44} {:<5} {:>9.2f} {:>9.2f} {:>9.2f} {:>8.1f}\n", r.name, shape, dtype_of<T>, t.median_us,
             t.graph_us, t.min_us, tflops);
  if (json) {
    fmt::print(json, "{}  {{\"name\": \"{}\", \"dtype\": \"{}\", \"median_us\": {:.3f}, \"graph_us\": {:.3f}, \"tflops\": {:.2f}}}",
               first ? "" : ",\n", r.name, dtype_of<T>, t.median_us, t.graph_us, tflops);
    first = false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string json_path;
  int reps = 50, splits = 0, tiles = -1;
  auto combine = AttentionSplitCombine::automatic;
  std::string only;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json_path = argv[++i];
    else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
    else if (a == "--splits" && i + 1 < argc) splits = std::atoi(argv[++i]);
    else if (a == "--row" && i + 1 < argc) only = argv[++i];
    else if (a == "--tiles" && i + 1 < argc) tiles = std::atoi(argv[++i]);
    else if (a == "--combine" && i + 1 < argc && (std::string(argv[i + 1]) == "cluster" || std::string(argv[i + 1]) == "workspace"))
      combine = std::string(argv[++i]) == "cluster" ? AttentionSplitCombine::cluster : AttentionSplitCombine::workspace;
    else {
      fmt::print(stderr, "usage: fusekit_attention_bench [--json FILE] [--reps N] [--splits N] [--tiles N] "
                         "[--combine cluster|workspace] [--row NAME]\n");
      return 2;
    }
  }
  if (hip::device_count() == 0) {
    fmt::print("no GPU visible\n");
    return 1;
  }
  hip::Stream s;
  fmt::print("GPU: {} ({}), {} SMs; median of {} batches of 10 calls\n", s.device().name, s.device().arch,
             s.device().multiprocessors, reps);
  fmt::print("{:<14} {:<44} {:<5} {:>9} {:>9} {:>9} {:>8}\n", "row", "shape [B, Sq, Hq/Hkv, D]", "dtype", "us", "graph us",
             "min us", "TFLOP/s");
  std::FILE* json = json_path.empty() ? nullptr : std::fopen(json_path.c_str(), "w");
  if (json) fmt::print(json, "[\n");
  bool first = true;
  for (const Row& r : kRows) {
    if (!only.empty() && only != r.name) continue;
    run_row<bfloat16>(s, r, reps, splits, tiles, combine, json, first);
    run_row<fusekit::half>(s, r, reps, splits, tiles, combine, json, first);
  }
  if (json) {
    fmt::print(json, "\n]\n");
    std::fclose(json);
  }
  return 0;
}
