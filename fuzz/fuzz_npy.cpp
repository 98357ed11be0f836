// .npy images (io::parse_npy): whatever the bytes, a parsed array or a fusekit::Error; a parsed array
// holds exactly numel x item-size bytes and converts to a typed tensor of its dtype.
#include "fusekit/io/npy.hpp"
#include "harness.hpp"

using namespace fusekit;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  io::NpyArray a;
  if (!fuzz::succeeds([&] { a = io::parse_npy(reinterpret_cast<const std::byte*>(data), size, "fuzz.npy"); })) return 0;
  fuzz::invariant(a.data.size() == static_cast<std::size_t>(a.numel()) * size_of(a.dtype), "npy data size");
  if (a.dtype == DType::f32 && a.shape.size() == 2) {
    const auto t = a.as<float, 2>("fuzz");
    fuzz::invariant(t.numel() == a.numel(), "npy typed copy");
  }
  fuzz::succeeds([&] { a.as<float, 1>("fuzz"); });  // wrong rank or dtype: an error, never a bad copy
  return 0;
}
