#pragma once
// A small strict JSON parser, enough for file headers (safetensors): objects, arrays, strings (with
// escapes, \u included), numbers kept as their literal text, true/false/null. Errors name the source
// and the byte offset. Nesting is limited (kMaxDepth) so that hostile input cannot exhaust the stack;
// duplicate object keys are an error (a header naming one tensor twice is corrupt).
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fusekit/core/error.hpp"

namespace fusekit::io {

struct Json {
  enum class Kind { null, boolean, number, string, array, object };
  Kind kind = Kind::null;
  bool boolean = false;
  std::string text;                                  // string value, or a number's literal
  std::vector<Json> items;        // array
  std::vector<std::string> keys;  // object: keys[i] names items[i], in file order (two vectors, not a vector
                                  // of pairs: std::pair needs a complete Json, which clang enforces here)

  const Json* find(std::string_view key) const {
    for (std::size_t i = 0; i < keys.size(); ++i)
      if (keys[i] == key) return &items[i];
    return nullptr;
  }
};

constexpr std::string_view json_kind_name(Json::Kind k) {
  switch (k) {
    case Json::Kind::null: return "null";
    case Json::Kind::boolean: return "a boolean";
    case Json::Kind::number: return "a number";
    case Json::Kind::string: return "a string";
    case Json::Kind::array: return "an array";
    case Json::Kind::object: return "an object";
  }
  return "?";
}

namespace detail {

class JsonParser {
 public:
  static constexpr int kMaxDepth = 64;
  JsonParser(std::string_view s, const std::string& source) : s_(s), source_(source) {}

  Json document() {
    Json v = value(0);
    skip_space();
    if (i_ != s_.size()) error("unexpected '{}' after the end of the document", s_[i_]);
    return v;
  }

 private:
  template <class... Args>
  [[noreturn]] void error(fmt::format_string<Args...> f, Args&&... args) const {
    fail("{}: JSON header, byte {}: {}", source_, i_, fmt::format(f, std::forward<Args>(args)...));
  }
  void skip_space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  char peek() {
    skip_space();
    if (i_ >= s_.size()) error("unexpected end of the header");
    return s_[i_];
  }
  void expect(char c) {
    if (peek() != c) error("expected '{}', found '{}'", c, s_[i_]);
    ++i_;
  }
  void literal(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) error("bad literal (expected '{}')", word);
    i_ += word.size();
  }

  Json value(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than {}", kMaxDepth);
    Json v;
    const char c = peek();
    if (c == '{') {
      v.kind = Json::Kind::object;
      ++i_;
      if (peek() == '}') return ++i_, v;
      while (true) {
        if (peek() != '"') error("expected a key string, found '{}'", s_[i_]);
        std::string key = string();
        if (v.find(key)) error("duplicate key \"{}\"", key);
        expect(':');
        v.items.push_back(value(depth + 1));
        v.keys.push_back(std::move(key));
        if (peek() == ',') { ++i_; continue; }
        expect('}');
        return v;
      }
    }
    if (c == '[') {
      v.kind = Json::Kind::array;
      ++i_;
      if (peek() == ']') return ++i_, v;
      while (true) {
        v.items.push_back(value(depth + 1));
        if (peek() == ',') { ++i_; continue; }
        expect(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = Json::Kind::string;
      v.text = string();
      return v;
    }
    if (c == 't' || c == 'f') {
      v.kind = Json::Kind::boolean;
      v.boolean = c == 't';
      literal(v.boolean ? "true" : "false");
      return v;
    }
    if (c == 'n') return literal("null"), v;
    if (c == '-' || (c >= '0' && c <= '9')) {
      v.kind = Json::Kind::number;
      v.text = number();
      return v;
    }
    error("unexpected character '{}'", c);
  }

  std::string number() {
    const std::size_t start = i_;
    auto digits = [&] {
      const std::size_t d = i_;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      if (i_ == d) error("malformed number");
    };
    if (s_[i_] == '-') ++i_;
    if (i_ < s_.size() && s_[i_] == '0') ++i_;
    else digits();
    if (i_ < s_.size() && s_[i_] == '.') ++i_, digits();
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      ++i_;
      if (i_ < s_.size() && (s_[i_] == '+' || s_[i_] == '-')) ++i_;
      digits();
    }
    return std::string(s_.substr(start, i_ - start));
  }

  unsigned hex4() {
    if (s_.size() - i_ < 4) error("truncated \\u escape");
    unsigned u = 0;
    for (int k = 0; k < 4; ++k) {
      const char h = s_[i_++];
      u = u * 16 + (h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                                                               : (error("bad hex digit '{}' in a \\u escape", h), 0));
    }
    return u;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xc0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xe0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      out += static_cast<char>(0xf0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
      out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string string() {
    ++i_;  // the opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size()) error("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (static_cast<unsigned char>(c) < 0x20) error("control character 0x{:02x} inside a string", unsigned(c));
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) error("unterminated escape");
      const char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
            if (s_.substr(i_, 2) != "\\u") error("unpaired UTF-16 surrogate");
            i_ += 2;
            const unsigned lo = hex4();
            if (lo < 0xdc00 || lo >= 0xe000) error("bad low UTF-16 surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp < 0xe000) {
            error("unpaired UTF-16 surrogate");
          }
          append_utf8(out, cp);
          break;
        }
        default: error("bad escape '\\{}'", e);
      }
    }
  }

  std::string_view s_;
  const std::string& source_;
  std::size_t i_ = 0;
};

}  // namespace detail

inline Json parse_json(std::string_view text, const std::string& source) {
  return detail::JsonParser(text, source).document();
}

// A non-negative integer that fits in 64 bits (what sizes and offsets are); `what` names it in errors.
inline std::uint64_t json_u64(const Json& v, const std::string& source, std::string_view what) {
  FUSEKIT_CHECK(v.kind == Json::Kind::number, "{}: {} must be a number, got {}", source, what, json_kind_name(v.kind));
  FUSEKIT_CHECK(!v.text.empty() && v.text.find_first_not_of("0123456789") == std::string::npos,
                "{}: {} must be a non-negative integer, got {}", source, what, v.text);
  std::uint64_t n = 0;
  for (char c : v.text) {
    const auto d = static_cast<std::uint64_t>(c - '0');
    FUSEKIT_CHECK(n <= (UINT64_MAX - d) / 10, "{}: {} ({}) does not fit in 64 bits", source, what, v.text);
    n = n * 10 + d;
  }
  return n;
}

// `s` as a JSON string literal, quotes included.
inline std::string json_quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\', out += c;
    else if (static_cast<unsigned char>(c) < 0x20) out += fmt::format("\\u{:04x}", unsigned(c));
    else out += c;
  }
  return out + '"';
}

}  // namespace fusekit::io
