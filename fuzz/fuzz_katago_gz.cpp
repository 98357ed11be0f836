// Gzipped KataGo model files (io::gunzip, then the model reader in both float encodings, as
// katago::read_model does for a name without a known suffix). Decompression is capped at 64 MiB: the
// cap must give a clear error, not an out-of-memory kill (zip bombs).
#include "katago_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace fusekit;
  const std::string_view gz = fuzz::as_text(data, size);
  if (!io::is_gzip(gz)) return 0;
  std::string bytes;
  if (!fuzz::succeeds([&] { bytes = io::gunzip(gz, "fuzz.bin.gz", std::size_t{64} << 20); })) return 0;
  fuzz::read_katago_model(bytes, katago::FloatEncoding::binary);
  fuzz::read_katago_model(std::move(bytes), katago::FloatEncoding::text);
  return 0;
}
