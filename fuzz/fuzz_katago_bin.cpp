// KataGo model files, uncompressed, binary weights (katago::read_model_bytes): see katago_model.hpp.
#include "katago_model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fusekit::fuzz::read_katago_model(std::string(fusekit::fuzz::as_text(data, size)), fusekit::katago::FloatEncoding::binary);
  return 0;
}
