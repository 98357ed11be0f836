#pragma once
// safetensors files (HuggingFace's weight format): an 8-byte little-endian header length N, N bytes of
// JSON {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data (offsets relative to its start).
//
//   auto f = io::SafeTensors::open("model.safetensors");     memory-mapped, header validated up front
//   HostTensor<float, 2> w = f.load<float>("x.weight", Shape<2>{out, in});   converted, shape checked
//   io::SafeTensorsWriter w; w.add("x.weight", view); w.write("out.safetensors");
//
// Validation follows the reference implementation: offsets inside the data, sizes equal to
// numel x item size, the data fully covered by non-overlapping tensors. Every error names the file and
// the tensor (and, for a bad header, the byte offset). Loading converts between float dtypes (f64, f32,
// f16, bf16 stored; f32, f16, bf16 requested) and by default rejects non-finite values, naming the index.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor.hpp"
#include "fusekit/io/json.hpp"

namespace fusekit::io {

struct SafeTensorInfo {
  std::string name;
  DType dtype = DType::f32;
  std::vector<index_t> shape;
  std::size_t begin = 0, end = 0;  // byte range in the data section
  index_t numel() const {
    index_t n = 1;
    for (index_t e : shape) n *= e;
    return n;
  }
};

namespace detail {

inline const char* safetensors_dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "F32";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::f64: return "F64";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
    case DType::u16: return "U16";
    case DType::boolean: return "BOOL";
  }
  return "?";
}

inline DType safetensors_dtype(const std::string& s, const std::string& source, const std::string& tensor) {
  for (DType d : {DType::f32, DType::f16, DType::bf16, DType::f64, DType::i32, DType::i64, DType::u8, DType::u16,
                  DType::boolean})
    if (s == safetensors_dtype_name(d)) return d;
  fail("safetensors {}: tensor '{}' has dtype '{}', which fusekit does not read (supported: F32, F16, BF16, F64, "
       "I32, I64, U8, U16, BOOL)",
       source, tensor, s);
}

// A read-only memory mapping of a whole file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    FUSEKIT_CHECK(fd >= 0, "safetensors {}: cannot open file", path);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      ::close(fd);
      fail("safetensors {}: cannot stat file", path);
    }
    size_ = static_cast<std::size_t>(st.st_size);
    if (size_ > 0) {
      void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      ::close(fd);
      FUSEKIT_CHECK(p != MAP_FAILED, "safetensors {}: cannot map {} bytes", path, size_);
      data_ = static_cast<const std::byte*>(p);
    } else {
      ::close(fd);
    }
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile() {
    if (data_) ::munmap(const_cast<std::byte*>(data_), size_);
  }
  std::span<const std::byte> bytes() const { return {data_, size_}; }

 private:
  const std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace detail

class SafeTensors {
 public:
  // Memory-maps `path`; the mapping lives as long as this object (and its copies).
  static SafeTensors open(const std::string& path) {
    auto m = std::make_shared<detail::MappedFile>(path);
    const auto b = m->bytes();
    return SafeTensors(b, std::move(m), path);
  }

  // Parses an image held in memory (tests, fuzzing, files read some other way).
  static SafeTensors from_bytes(std::vector<std::byte> bytes, const std::string& source) {
    auto owner = std::make_shared<std::vector<std::byte>>(std::move(bytes));
    const std::span<const std::byte> b(owner->data(), owner->size());
    return SafeTensors(b, std::move(owner), source);
  }

  const std::string& source() const { return source_; }
  const std::vector<SafeTensorInfo>& tensors() const { return tensors_; }  // by data offset
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  const SafeTensorInfo* find(std::string_view name) const {
    for (const auto& t : tensors_)
      if (t.name == name) return &t;
    return nullptr;
  }
  bool contains(std::string_view name) const { return find(name) != nullptr; }

  const SafeTensorInfo& info(std::string_view name) const {
    if (const auto* t = find(name)) return *t;
    std::string some;
    for (std::size_t i = 0; i < tensors_.size() && i < 4; ++i) some += (i ? ", " : "") + tensors_[i].name;
    fail("safetensors {}: no tensor named '{}' (the file holds {} tensors{}{}{})", source_, name, tensors_.size(),
         tensors_.empty() ? "" : ": ", some, tensors_.size() > 4 ? ", ..." : "");
  }

  std::span<const std::byte> bytes(const SafeTensorInfo& t) const { return data_.subspan(t.begin, t.end - t.begin); }

  // The tensor `name` converted to T, checked against `expected` (any extent -1 matches anything).
  template <class T, std::size_t R>
  HostTensor<T, R> load(std::string_view name, const Shape<R>& expected, bool require_finite = true) const {
    const SafeTensorInfo& t = info(name);
    bool ok = t.shape.size() == R;
    for (std::size_t d = 0; ok && d < R; ++d) ok = expected[d] < 0 || expected[d] == t.shape[d];
    FUSEKIT_CHECK(ok, "safetensors {}: tensor '{}' has shape [{}] ({}), expected {}", source_, name,
                  fmt::join(t.shape, ", "), t.dtype, expected);
    Shape<R> s{};
    for (std::size_t d = 0; d < R; ++d) s[d] = t.shape[d];
    HostTensor<T, R> out(s);
    convert_into(t, out.data(), require_finite);
    return out;
  }

  // Any rank, flattened (C order).
  template <class T>
  HostTensor<T, 1> load_flat(std::string_view name, bool require_finite = true) const {
    const SafeTensorInfo& t = info(name);
    HostTensor<T, 1> out(Shape<1>{t.numel()});
    convert_into(t, out.data(), require_finite);
    return out;
  }

  template <class T, std::size_t R>
  HostTensor<T, R> load(std::string_view name) const {
    Shape<R> any{};
    for (std::size_t d = 0; d < R; ++d) any[d] = -1;
    return load<T, R>(name, any);
  }

 private:
  SafeTensors(std::span<const std::byte> b, std::shared_ptr<const void> owner, std::string source)
      : owner_(std::move(owner)), source_(std::move(source)) {
    FUSEKIT_CHECK(b.size() >= 8, "safetensors {}: file of {} bytes is too short for the 8-byte header length", source_,
                  b.size());
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<std::uint8_t>(b[i]);
    FUSEKIT_CHECK(n <= b.size() - 8, "safetensors {}: header length {} runs past the end of the file ({} bytes; truncated?)",
                  source_, n, b.size());
    FUSEKIT_CHECK(n >= 2, "safetensors {}: header length {} is too short for a JSON object", source_, n);
    const std::string_view text(reinterpret_cast<const char*>(b.data() + 8), n);
    data_ = b.subspan(8 + n);
    const Json header = parse_json(text, "safetensors " + source_);
    FUSEKIT_CHECK(header.kind == Json::Kind::object, "safetensors {}: the header is {}, not an object", source_,
                  json_kind_name(header.kind));
    for (std::size_t m = 0; m < header.keys.size(); ++m) {
      const std::string& key = header.keys[m];
      const Json& v = header.items[m];
      if (key == "__metadata__") {
        FUSEKIT_CHECK(v.kind == Json::Kind::object, "safetensors {}: __metadata__ is {}, not an object", source_,
                      json_kind_name(v.kind));
        for (std::size_t i = 0; i < v.keys.size(); ++i) {
          const std::string& mk = v.keys[i];
          const Json& mv = v.items[i];
          FUSEKIT_CHECK(mv.kind == Json::Kind::string, "safetensors {}: metadata '{}' is {}, not a string", source_, mk,
                        json_kind_name(mv.kind));
          metadata_[mk] = mv.text;
        }
        continue;
      }
      tensors_.push_back(parse_entry(key, v));
    }
    std::sort(tensors_.begin(), tensors_.end(), [](const auto& a, const auto& c) { return a.begin < c.begin; });
    std::size_t at = 0;
    for (const auto& t : tensors_) {
      FUSEKIT_CHECK(t.begin == at, "safetensors {}: tensor '{}' starts at data byte {} but the previous tensor ends at {} "
                    "({})", source_, t.name, t.begin, at, t.begin < at ? "overlap" : "a hole");
      at = t.end;
    }
    FUSEKIT_CHECK(at == data_.size(), "safetensors {}: the tensors cover {} data bytes but the file holds {}{}", source_,
                  at, data_.size(), at > data_.size() ? " (truncated?)" : "");
  }

  SafeTensorInfo parse_entry(const std::string& name, const Json& v) const {
    FUSEKIT_CHECK(v.kind == Json::Kind::object, "safetensors {}: entry '{}' is {}, not an object", source_, name,
                  json_kind_name(v.kind));
    const Json* dt = v.find("dtype");
    const Json* shape = v.find("shape");
    const Json* off = v.find("data_offsets");
    FUSEKIT_CHECK(dt && shape && off, "safetensors {}: tensor '{}' lacks {}", source_, name,
                  !dt ? "a dtype" : !shape ? "a shape" : "data_offsets");
    FUSEKIT_CHECK(dt->kind == Json::Kind::string, "safetensors {}: tensor '{}' has a dtype that is not a string", source_,
                  name);
    SafeTensorInfo t;
    t.name = name;
    t.dtype = detail::safetensors_dtype(dt->text, source_, name);
    FUSEKIT_CHECK(shape->kind == Json::Kind::array, "safetensors {}: tensor '{}' has a shape that is not an array", source_,
                  name);
    const std::string where = fmt::format("safetensors {}", source_);
    std::uint64_t numel = 1;
    for (const Json& e : shape->items) {
      const std::uint64_t d = json_u64(e, where, fmt::format("an extent of tensor '{}'", name));
      FUSEKIT_CHECK(d <= (std::uint64_t{1} << 40) && (d == 0 || numel <= (std::uint64_t{1} << 60) / d),
                    "safetensors {}: tensor '{}' is too large", source_, name);
      numel *= d;
      t.shape.push_back(static_cast<index_t>(d));
    }
    FUSEKIT_CHECK(off->kind == Json::Kind::array && off->items.size() == 2,
                  "safetensors {}: tensor '{}' needs data_offsets [begin, end]", source_, name);
    const std::uint64_t b = json_u64(off->items[0], where, fmt::format("the begin offset of tensor '{}'", name));
    const std::uint64_t e = json_u64(off->items[1], where, fmt::format("the end offset of tensor '{}'", name));
    FUSEKIT_CHECK(b <= e && e <= data_.size(),
                  "safetensors {}: tensor '{}' has data_offsets [{}, {}] outside the {} data bytes{}", source_, name, b, e,
                  data_.size(), e > data_.size() ? " (truncated file?)" : "");
    FUSEKIT_CHECK(e - b == numel * size_of(t.dtype),
                  "safetensors {}: tensor '{}' ({} [{}]) needs {} bytes but its data_offsets span {}", source_, name,
                  t.dtype, fmt::join(t.shape, ", "), numel * size_of(t.dtype), e - b);
    t.begin = static_cast<std::size_t>(b);
    t.end = static_cast<std::size_t>(e);
    return t;
  }

  template <class T>
  void convert_into(const SafeTensorInfo& t, T* out, bool require_finite) const {
    const std::byte* src = data_.data() + t.begin;
    const index_t n = t.numel();
    constexpr bool float_out = FloatStorage<T>;
    if constexpr (!float_out) {
      FUSEKIT_CHECK(t.dtype == dtype_of<T>, "safetensors {}: tensor '{}' holds {} data, expected {}", source_, t.name,
                    t.dtype, dtype_of<T>);
      if (n) std::memcpy(out, src, static_cast<std::size_t>(n) * sizeof(T));
    } else {
      auto each = [&]<class S>(S) {
        for (index_t i = 0; i < n; ++i) {
          S s;
          std::memcpy(&s, src + i * index_t{sizeof(S)}, sizeof(S));
          const double v = static_cast<double>(to_float_any(s));
          FUSEKIT_CHECK(!require_finite || std::isfinite(v), "safetensors {}: tensor '{}' {} holds a non-finite value "
                        "({}) at flat index {}", source_, t.name, fmt::join(t.shape, "x"), v, i);
          if constexpr (std::is_same_v<S, double>) out[i] = convert<T>(static_cast<float>(s));
          else out[i] = convert<T>(to_float_any(s));
        }
      };
      switch (t.dtype) {
        case DType::f32: each(float{}); break;
        case DType::f16: each(half{}); break;
        case DType::bf16: each(bfloat16{}); break;
        case DType::f64: each(double{}); break;
        default:
          fail("safetensors {}: tensor '{}' holds {} data, which cannot be loaded as {}", source_, t.name, t.dtype,
               dtype_of<T>);
      }
    }
  }

  template <class S>
  static float to_float_any(S s) {
    if constexpr (std::is_same_v<S, double>) return static_cast<float>(s);
    else return to_float(s);
  }

  std::shared_ptr<const void> owner_;
  std::span<const std::byte> data_;
  std::string source_;
  std::vector<SafeTensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Builds a safetensors image: tensors in the order added, C order, header padded to 8 bytes.
class SafeTensorsWriter {
 public:
  void add(std::string name, DType dtype, std::vector<index_t> shape, std::span<const std::byte> data) {
    FUSEKIT_CHECK(name != "__metadata__" && std::none_of(entries_.begin(), entries_.end(),
                                                         [&](const Entry& e) { return e.name == name; }),
                  "safetensors writer: tensor name '{}' is reserved or already used", name);
    std::size_t n = size_of(dtype);
    for (index_t e : shape) n *= static_cast<std::size_t>(e);
    FUSEKIT_CHECK(n == data.size(), "safetensors writer: tensor '{}' [{}] of {} needs {} bytes, got {}", name,
                  fmt::join(shape, ", "), dtype, n, data.size());
    entries_.push_back({std::move(name), dtype, std::move(shape), std::vector<std::byte>(data.begin(), data.end())});
  }

  template <TensorLike X>
  void add(std::string name, const X& x) {
    const auto v = x.view().as_const();
    using T = typename decltype(v)::value_type;
    static_assert(std::is_same_v<typename decltype(v)::space, HostSpace>,
                  "safetensors writer: copy device tensors to the host first");
    constexpr std::size_t R = decltype(v)::rank;
    std::vector<std::byte> bytes(static_cast<std::size_t>(v.numel()) * sizeof(T));
    for (index_t lin = 0; lin < v.numel(); ++lin) {
      index_t rem = lin, off = 0;
      for (std::size_t d = R; d-- > 0;) {
        off += (rem % v.size(d)) * v.stride(d);
        rem /= v.size(d);
      }
      std::memcpy(bytes.data() + lin * index_t{sizeof(T)}, v.data() + off, sizeof(T));
    }
    std::vector<index_t> shape(R);
    for (std::size_t d = 0; d < R; ++d) shape[d] = v.size(d);
    add(std::move(name), dtype_of<T>, std::move(shape), bytes);
  }

  void metadata(std::string key, std::string value) { metadata_[std::move(key)] = std::move(value); }

  std::vector<std::byte> bytes() const {
    std::string h = "{";
    if (!metadata_.empty()) {
      h += "\"__metadata__\":{";
      bool first = true;
      for (const auto& [k, v] : metadata_) {
        if (!first) h += ',';
        h += json_quote(k);
        h += ':';
        h += json_quote(v);
        first = false;
      }
      h += "}";
    }
    std::size_t at = 0;
    for (const Entry& e : entries_) {
      if (h.size() > 1) h += ",";
      h += fmt::format("{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}", json_quote(e.name),
                       detail::safetensors_dtype_name(e.dtype), fmt::join(e.shape, ","), at, at + e.data.size());
      at += e.data.size();
    }
    h += "}";
    h.append((8 - h.size() % 8) % 8, ' ');
    std::vector<std::byte> out(8 + h.size());
    for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>((std::uint64_t{h.size()} >> (8 * i)) & 0xff);
    std::memcpy(out.data() + 8, h.data(), h.size());
    for (const Entry& e : entries_) out.insert(out.end(), e.data.begin(), e.data.end());
    return out;
  }

  void write(const std::string& path) const {
    const auto b = bytes();
    std::ofstream f(path, std::ios::binary);
    FUSEKIT_CHECK(f.good(), "safetensors {}: cannot create file", path);
    f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
    FUSEKIT_CHECK(f.good(), "safetensors {}: write failed", path);
  }

 private:
  struct Entry {
    std::string name;
    DType dtype;
    std::vector<index_t> shape;
    std::vector<std::byte> data;
  };
  std::vector<Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace fusekit::io
