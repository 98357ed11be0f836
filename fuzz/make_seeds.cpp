// Writes the small seed inputs committed under fuzz/corpus/<target>/ (run from the source tree:
// `build/fuzz/fusekit_fuzz_make_seeds fuzz/corpus`). tools/run-fuzz adds the real files from ../shared
// and tests/data at fuzz time; these seeds keep every target's grammar covered without them.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "fusekit/io/npy.hpp"
#include "fusekit/io/safetensors.hpp"
#include "fusekit/katago/random_model.hpp"

using namespace fusekit;
namespace fs = std::filesystem;

namespace {

void put(const fs::path& dir, const std::string& name, std::string_view bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}
void put(const fs::path& dir, const std::string& name, const std::vector<std::byte>& b) {
  put(dir, name, std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

template <class T, std::size_t R>
HostTensor<T, R> counting(const Shape<R>& s) {
  HostTensor<T, R> t(s);
  for (index_t i = 0; i < t.numel(); ++i) t.data()[i] = convert<T>(0.25 * static_cast<double>(i % 13) - 1.0);
  return t;
}

// Tiny networks of each family KataGo files describe; heads shrunk so that the text seeds stay small.
katago::Architecture tiny(const std::string& name, int version) {
  katago::Architecture a = katago::architecture(name);
  a.version = version;
  a.p1 = a.g1 = a.v1 = a.v2 = 8;
  if (a.transformer) a.blocks = 1, a.trunk_c = a.mid_c = 16, a.heads = 2, a.head_dim = 8, a.ffn = 16;
  return a;
}


}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const fs::path root = argv[1];

  const fs::path npy = root / "npy";
  put(npy, "f32_3x4.npy", io::npy_bytes(counting<float, 2>({3, 4}).view().as_const()));
  put(npy, "f16_5.npy", io::npy_bytes(counting<half, 1>({5}).view().as_const()));
  put(npy, "f64_2x1x3.npy", io::npy_bytes(counting<double, 3>({2, 1, 3}).view().as_const()));
  put(npy, "i64_0x2.npy", io::npy_bytes(HostTensor<std::int64_t, 2>({0, 2}).view().as_const()));
  {  // a scalar: shape ()
    auto b = io::npy_bytes(HostTensor<std::uint8_t, 1>({1}).view().as_const());
    std::string s(reinterpret_cast<const char*>(b.data()), b.size());
    s.replace(s.find("(1, )"), 5, "()   ");
    put(npy, "u8_scalar.npy", s);
  }
  put(npy, "bool_4.npy", io::npy_bytes(HostTensor<bool, 1>({4}).view().as_const()));
  {  // Fortran order, format 2.0 (4-byte header length)
    std::string h = "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 3), }";
    h.append((64 - (12 + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::string f = std::string("\x93NUMPY\x02\x00", 8);
    for (int i = 0; i < 4; ++i) f += static_cast<char>((h.size() >> (8 * i)) & 0xff);
    f += h;
    for (std::int32_t v = 0; v < 6; ++v) f.append(reinterpret_cast<const char*>(&v), 4);
    put(npy, "i32_2x3_fortran_v2.npy", f);
  }

  const fs::path st = root / "safetensors";
  {
    io::SafeTensorsWriter w;
    w.add("model.layers.0.self_attn.q_proj.weight", counting<bfloat16, 2>({4, 3}));
    w.add("bias", counting<float, 1>({4}));
    w.add("h", counting<half, 3>({1, 2, 2}));
    w.add("ids", HostTensor<std::int32_t, 1>({3}));
    w.metadata("format", "pt");
    put(st, "mixed.safetensors", w.bytes());
  }
  {
    io::SafeTensorsWriter w;
    w.add("empty", counting<float, 2>({0, 5}));
    const double pi = 3.25;
    w.add("scalar", DType::f64, {}, std::as_bytes(std::span(&pi, 1)));
    w.add("u16", HostTensor<std::uint16_t, 1>({2}));
    put(st, "edge.safetensors", w.bytes());
  }

  using katago::FloatEncoding;
  // (the random-model builder writes version 15 heads; other versions come from the real files)
  for (auto [name, version] : {std::pair{"b4c16", 15}, {"b2c16nbt", 15}, {"b7c96tf", 17}}) {
    const katago::ModelDesc m = katago::random_model(tiny(name, version), 7);
    const std::string stem = std::string(name) + "_v" + std::to_string(version);
    const std::string bin = katago::write_model_bytes(m, FloatEncoding::binary);
    const std::string txt = katago::write_model_bytes(m, FloatEncoding::text);
    put(root / "katago_bin", stem + ".bin", bin);
    put(root / "katago_gz", stem + ".bin.gz", io::gzip(bin, 9));
    if (std::string(name) == "b4c16") continue;  // text is 2.5x larger: the smaller nets cover it
    put(root / "katago_txt", stem + ".txt", txt);
    if (!m.trunk.blocks.empty() && version == 15) put(root / "katago_gz", stem + ".txt.gz", io::gzip(txt, 9));
  }
  std::printf("seeds written under %s\n", root.c_str());
  return 0;
}
