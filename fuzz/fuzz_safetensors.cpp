// safetensors images (io::SafeTensors::from_bytes, the JSON header parser under it, and loads with
// dtype conversion): a parsed file or a fusekit::Error; every tensor of a parsed file lies inside the
// data and loads (or reports a non-finite value) in every dtype fusekit converts to.
#include <optional>

#include "fusekit/io/safetensors.hpp"
#include "harness.hpp"

using namespace fusekit;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<io::SafeTensors> st;
  std::vector<std::byte> bytes(reinterpret_cast<const std::byte*>(data), reinterpret_cast<const std::byte*>(data) + size);
  if (!fuzz::succeeds([&] { st.emplace(io::SafeTensors::from_bytes(std::move(bytes), "fuzz.safetensors")); })) return 0;
  for (const auto& t : st->tensors()) {
    fuzz::invariant(t.begin <= t.end && t.end <= size, "tensor bytes inside the file");
    fuzz::invariant(st->bytes(t).size() == static_cast<std::size_t>(t.numel()) * size_of(t.dtype), "tensor size");
    if (t.numel() > (1 << 20)) continue;  // (cannot happen within libFuzzer's input sizes; keeps replays fast)
    fuzz::succeeds([&] { fuzz::invariant(st->load_flat<float>(t.name).numel() == t.numel(), "f32 load"); });
    fuzz::succeeds([&] { st->load_flat<bfloat16>(t.name, false); });
    fuzz::succeeds([&] { st->load_flat<half>(t.name); });
  }
  fuzz::succeeds([&] { st->info("no such tensor"); });
  return 0;
}
