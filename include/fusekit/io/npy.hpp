#pragma once
// .npy files (NumPy format 1.0/2.0/3.0). Reads float32, float16, float64, int32, int64, uint8, uint16 and
// bool, little-endian, in C or Fortran order (Fortran data is reordered to C order on load). Writes C order.
// bfloat16 convention: a bfloat16 tensor is stored as '<u2' holding the raw bfloat16 bits (NumPy has no
// bfloat16); loading '<u2' data as bfloat16 reinterprets the bits. In Python:
//   torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)   (or ml_dtypes: a.view(ml_dtypes.bfloat16))
// Every malformed file gets a fusekit::Error naming the file and what is wrong.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor.hpp"

namespace fusekit::io {

struct NpyArray {
  DType dtype = DType::f32;
  std::vector<index_t> shape;
  std::vector<std::byte> data;  // C order
  std::string source;           // file name, for messages

  index_t numel() const {
    index_t n = 1;
    for (auto e : shape) n *= e;
    return n;
  }

  // A typed copy; the dtype must match (bfloat16 accepts u16 bits) and the rank must be R.
  template <class T, std::size_t R>
  HostTensor<T, R> as(std::string_view name = "array") const {
    constexpr DType want = std::is_same_v<T, bfloat16> ? DType::u16 : dtype_of<T>;
    FUSEKIT_CHECK(dtype == want, "npy {}: '{}' holds {} data, expected {}{}", source, name, dtype, dtype_of<T>,
                  std::is_same_v<T, bfloat16> ? " (stored as u16 bits)" : "");
    FUSEKIT_CHECK(shape.size() == R, "npy {}: '{}' has rank {} (shape {}), expected rank {}", source, name,
                  shape.size(), fmt::join(shape, "x"), R);
    Shape<R> s{};
    for (std::size_t i = 0; i < R; ++i) s[i] = shape[i];
    HostTensor<T, R> t(s);
    if (!data.empty()) std::memcpy(t.data(), data.data(), data.size());
    return t;
  }
};

namespace detail {

inline std::size_t npy_item_size(DType d) { return size_of(d); }

inline DType npy_parse_descr(std::string_view descr, const std::string& src) {
  FUSEKIT_CHECK(descr.size() >= 3, "npy {}: bad dtype descriptor '{}'", src, descr);
  const char order = descr[0];
  FUSEKIT_CHECK(order != '>', "npy {}: big-endian data ('{}') is not supported; save with dtype.newbyteorder('<')",
                src, descr);
  FUSEKIT_CHECK(order == '<' || order == '|' || order == '=', "npy {}: bad byte order in dtype '{}'", src, descr);
  const std::string_view t = descr.substr(1);
  if (t == "f4") return DType::f32;
  if (t == "f2") return DType::f16;
  if (t == "f8") return DType::f64;
  if (t == "i4") return DType::i32;
  if (t == "i8") return DType::i64;
  if (t == "u1") return DType::u8;
  if (t == "u2") return DType::u16;
  if (t == "b1") return DType::boolean;
  fail("npy {}: unsupported dtype '{}' (supported: f4, f2, f8, i4, i8, u1, u2, b1)", src, descr);
}

inline const char* npy_descr(DType d) {
  switch (d) {
    case DType::f32: return "<f4";
    case DType::f16: return "<f2";
    case DType::f64: return "<f8";
    case DType::i32: return "<i4";
    case DType::i64: return "<i8";
    case DType::u8: return "|u1";
    case DType::u16: case DType::bf16: return "<u2";
    case DType::boolean: return "|b1";
  }
  return "";
}

// Value of key in the header dict: the text after "'key':" up to the matching delimiter.
inline std::string_view npy_field(std::string_view h, std::string_view key, const std::string& src) {
  const std::string pat = "'" + std::string(key) + "'";
  auto k = h.find(pat);
  FUSEKIT_CHECK(k != std::string_view::npos, "npy {}: header has no '{}' entry: {}", src, key, h);
  auto colon = h.find(':', k + pat.size());
  FUSEKIT_CHECK(colon != std::string_view::npos, "npy {}: malformed header near '{}'", src, key);
  auto v = h.substr(colon + 1);
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  FUSEKIT_CHECK(!v.empty(), "npy {}: header entry '{}' has no value", src, key);
  std::size_t end;
  if (v.front() == '\'') end = v.find('\'', 1) + 1;
  else if (v.front() == '(') end = v.find(')') + 1;
  else end = v.find_first_of(",}");
  FUSEKIT_CHECK(end != std::string_view::npos && end != 0 && end <= v.size(), "npy {}: malformed '{}' entry", src, key);
  return v.substr(0, end);
}

inline std::vector<index_t> npy_parse_shape(std::string_view s, const std::string& src) {
  std::vector<index_t> shape;
  FUSEKIT_CHECK(s.size() >= 2 && s.front() == '(' && s.back() == ')', "npy {}: bad shape '{}'", src, s);
  s = s.substr(1, s.size() - 2);
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == ',')) ++i;
    if (i >= s.size()) break;
    index_t v = 0;
    std::size_t digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      FUSEKIT_CHECK(v < (index_t{1} << 50), "npy {}: shape entry too large in '{}'", src, s);
      v = v * 10 + (s[i] - '0');
      ++i;
      ++digits;
    }
    FUSEKIT_CHECK(digits > 0, "npy {}: bad shape '({})'", src, s);
    while (i < s.size() && s[i] == 'L') ++i;  // Python 2 long suffix
    shape.push_back(v);
  }
  return shape;
}

// Reorders Fortran-order data (first index fastest) into C order.
inline std::vector<std::byte> fortran_to_c(const std::vector<std::byte>& f, const std::vector<index_t>& shape,
                                           std::size_t item) {
  std::vector<std::byte> c(f.size());
  const std::size_t r = shape.size();
  std::vector<index_t> idx(r, 0);
  const index_t n = static_cast<index_t>(f.size() / std::max<std::size_t>(item, 1));
  for (index_t lin = 0; lin < n; ++lin) {  // lin walks C order
    index_t fo = 0, mul = 1;
    for (std::size_t d = 0; d < r; ++d) {
      fo += idx[d] * mul;
      mul *= shape[d];
    }
    std::memcpy(c.data() + static_cast<std::size_t>(lin) * item, f.data() + static_cast<std::size_t>(fo) * item, item);
    for (std::size_t d = r; d-- > 0;) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
  return c;
}

}  // namespace detail

// Parses a whole .npy image held in memory.
inline NpyArray parse_npy(const std::byte* bytes, std::size_t size, const std::string& source) {
  const auto* u = reinterpret_cast<const unsigned char*>(bytes);
  FUSEKIT_CHECK(size >= 10 && std::memcmp(u, "\x93NUMPY", 6) == 0, "npy {}: not a .npy file (bad magic)", source);
  const int major = u[6];
  FUSEKIT_CHECK(major >= 1 && major <= 3, "npy {}: unsupported format version {}.{}", source, major, int(u[7]));
  std::size_t hlen, hstart;
  if (major == 1) {
    hlen = u[8] | (std::size_t(u[9]) << 8);
    hstart = 10;
  } else {
    FUSEKIT_CHECK(size >= 12, "npy {}: truncated header", source);
    hlen = u[8] | (std::size_t(u[9]) << 8) | (std::size_t(u[10]) << 16) | (std::size_t(u[11]) << 24);
    hstart = 12;
  }
  FUSEKIT_CHECK(hlen <= size - hstart, "npy {}: header of {} bytes runs past the end of the file ({} bytes)", source,
                hlen, size);
  const std::string_view h(reinterpret_cast<const char*>(u + hstart), hlen);
  NpyArray a;
  a.source = source;
  const auto descr = detail::npy_field(h, "descr", source);
  FUSEKIT_CHECK(descr.size() >= 2, "npy {}: bad descr {}", source, descr);
  a.dtype = detail::npy_parse_descr(descr.substr(1, descr.size() - 2), source);
  const auto fo = detail::npy_field(h, "fortran_order", source);
  FUSEKIT_CHECK(fo == "True" || fo == "False", "npy {}: bad fortran_order '{}'", source, fo);
  a.shape = detail::npy_parse_shape(detail::npy_field(h, "shape", source), source);
  const std::size_t item = detail::npy_item_size(a.dtype);
  std::size_t n = 1;
  for (auto e : a.shape) {
    FUSEKIT_CHECK(e == 0 || n <= (std::size_t{1} << 60) / static_cast<std::size_t>(e), "npy {}: shape too large",
                  source);
    n *= static_cast<std::size_t>(e);
  }
  const std::size_t need = n * item, have = size - hstart - hlen;
  FUSEKIT_CHECK(have >= need, "npy {}: data is {} bytes but shape ({}) of {} needs {} (truncated file?)", source, have,
                fmt::join(a.shape, ", "), a.dtype, need);
  FUSEKIT_CHECK(have == need, "npy {}: {} bytes of trailing data after the array", source, have - need);
  a.data.assign(bytes + hstart + hlen, bytes + hstart + hlen + need);
  if (fo == "True" && a.shape.size() > 1) a.data = detail::fortran_to_c(a.data, a.shape, item);
  return a;
}

inline NpyArray read_npy(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  FUSEKIT_CHECK(f.good(), "npy {}: cannot open file", path);
  std::vector<char> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  FUSEKIT_CHECK(!f.bad(), "npy {}: read error", path);
  return parse_npy(reinterpret_cast<const std::byte*>(buf.data()), buf.size(), path);
}

template <class T, std::size_t R>
HostTensor<T, R> load_npy(const std::string& path) {
  return read_npy(path).as<T, R>(path);
}

// Serialises a host tensor (any strides) as a version 1.0 .npy image.
template <class T, std::size_t R>
std::vector<std::byte> npy_bytes(const HostView<const T, R>& v) {
  std::string shape;
  for (std::size_t i = 0; i < R; ++i) shape += fmt::format("{}, ", v.size(i));
  if (R > 1) shape.resize(shape.size() - 2);
  std::string header =
      fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", detail::npy_descr(dtype_of<T>), shape);
  const std::size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::vector<std::byte> out(10 + header.size() + static_cast<std::size_t>(v.numel()) * sizeof(T));
  std::memcpy(out.data(), "\x93NUMPY\x01\x00", 8);
  out[8] = std::byte(header.size() & 0xff);
  out[9] = std::byte(header.size() >> 8);
  std::memcpy(out.data() + 10, header.data(), header.size());
  auto* dst = out.data() + 10 + header.size();
  const index_t n = v.numel();
  for (index_t lin = 0; lin < n; ++lin) {
    index_t rem = lin, off = 0;
    for (std::size_t d = R; d-- > 0;) {
      off += (rem % v.size(d)) * v.stride(d);
      rem /= v.size(d);
    }
    std::memcpy(dst + static_cast<std::size_t>(lin) * sizeof(T), v.data() + off, sizeof(T));
  }
  return out;
}

template <TensorLike X>
void save_npy(const std::string& path, const X& x) {
  const auto v = x.view().as_const();
  static_assert(std::is_same_v<typename decltype(v)::space, HostSpace>, "save_npy: copy device tensors to the host first");
  const auto bytes = npy_bytes(v);
  std::ofstream f(path, std::ios::binary);
  FUSEKIT_CHECK(f.good(), "npy {}: cannot create file", path);
  f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  FUSEKIT_CHECK(f.good(), "npy {}: write failed", path);
}

}  // namespace fusekit::io
