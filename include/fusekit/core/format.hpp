#pragma once
// fmt formatters: DType ("bf16"), half/bfloat16 (as float), Shape ("[788, 2048]") and tensors.
// Host tensors print numpy-like, truncated to the first and last 3 entries of long dimensions;
// device tensors print their dtype, shape and space only (printing device data needs a copy).
#include <string>

#include <fmt/format.h>

#include "fusekit/core/tensor.hpp"
#include "fusekit/core/tensor_view.hpp"

namespace fusekit::detail {

inline constexpr index_t print_edge = 3;  // entries shown at each end of a long dimension

template <class T, std::size_t R>
void format_block(std::string& out, const TensorView<T, R, HostSpace>& v, std::size_t dim, index_t base, int indent) {
  const index_t n = v.size(dim);
  const bool cut = n > 2 * print_edge;
  out += '[';
  for (index_t i = 0; i < n; ++i) {
    if (cut && i == print_edge) {
      out += dim + 1 == R ? "..., " : fmt::format("...,\n{:{}}", "", indent + 1);
      i = n - print_edge;
    }
    const index_t off = base + i * v.stride(dim);
    if (dim + 1 == R) {
      using V = std::remove_const_t<T>;
      if constexpr (std::is_integral_v<V>) out += fmt::format("{}", v.data()[off]);
      else out += fmt::format("{:.6g}", static_cast<double>(v.data()[off]));
    } else {
      format_block(out, v, dim + 1, off, indent + 1);
    }
    if (i + 1 < n) out += dim + 1 == R ? ", " : fmt::format(",\n{:{}}", "", indent + 1);
  }
  out += ']';
}

template <class T, std::size_t R>
std::string format_tensor(const TensorView<T, R, HostSpace>& v) {
  std::string out;
  if (v.empty()) out = "[]";
  else format_block(out, v, 0, 0, 0);
  return out;
}

}  // namespace fusekit::detail

template <>
struct fmt::formatter<fusekit::DType> : fmt::formatter<fmt::string_view> {
  template <class Ctx>
  auto format(fusekit::DType d, Ctx& ctx) const {
    return fmt::formatter<fmt::string_view>::format(fusekit::name(d), ctx);
  }
};

template <>
struct fmt::formatter<fusekit::half> : fmt::formatter<float> {
  template <class Ctx>
  auto format(fusekit::half h, Ctx& ctx) const {
    return fmt::formatter<float>::format(static_cast<float>(h), ctx);
  }
};

template <>
struct fmt::formatter<fusekit::bfloat16> : fmt::formatter<float> {
  template <class Ctx>
  auto format(fusekit::bfloat16 h, Ctx& ctx) const {
    return fmt::formatter<float>::format(static_cast<float>(h), ctx);
  }
};

template <std::size_t R>
struct fmt::formatter<fusekit::Extents<R>> : fmt::formatter<fmt::string_view> {
  template <class Ctx>
  auto format(const fusekit::Extents<R>& s, Ctx& ctx) const {
    std::string out = "[";
    for (std::size_t i = 0; i < R; ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    out += ']';
    return fmt::formatter<fmt::string_view>::format(out, ctx);
  }
};

template <class T, std::size_t R, class S>
struct fmt::formatter<fusekit::TensorView<T, R, S>> : fmt::formatter<fmt::string_view> {
  template <class Ctx>
  auto format(const fusekit::TensorView<T, R, S>& v, Ctx& ctx) const {
    std::string out;
    if constexpr (std::is_same_v<S, fusekit::HostSpace>) {
      out = fusekit::detail::format_tensor(v);
    } else {
      out = fmt::format("<{} {} tensor {}>", S::name, fusekit::dtype_of<T>, v.shape());
    }
    return fmt::formatter<fmt::string_view>::format(out, ctx);
  }
};

template <class T, std::size_t R, class S>
struct fmt::formatter<fusekit::Tensor<T, R, S>> : fmt::formatter<fusekit::TensorView<const T, R, S>> {
  template <class Ctx>
  auto format(const fusekit::Tensor<T, R, S>& t, Ctx& ctx) const {
    return fmt::formatter<fusekit::TensorView<const T, R, S>>::format(t.view(), ctx);
  }
};
