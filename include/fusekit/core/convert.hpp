#pragma once
// Value conversion between element types (host and device) and the compute type an op works in:
// half and bfloat16 compute in float; other types in themselves (so int64 and double stay exact).
#include <type_traits>

#include "fusekit/core/dtype.hpp"

namespace fusekit {

template <class T>
inline constexpr bool is_16bit_float = std::is_same_v<T, half> || std::is_same_v<T, bfloat16>;

template <class T> struct compute_type { using type = T; };
template <> struct compute_type<half> { using type = float; };
template <> struct compute_type<bfloat16> { using type = float; };
template <class T> using compute_t = typename compute_type<std::remove_const_t<T>>::type;

// The type two operands are combined in: float for 16-bit floats, otherwise the usual promotion.
template <class... T> using common_compute_t = std::common_type_t<compute_t<T>...>;

// Converts one element, rounding to nearest even where the target is narrower. double -> half/bfloat16
// goes through float (one extra rounding; documented in docs/architecture.md).
template <class O, class I>
FUSEKIT_HOST_DEVICE inline O convert(I v) {
  using In = std::remove_const_t<I>;
  if constexpr (std::is_same_v<O, In>) {
    return v;
  } else if constexpr (is_16bit_float<O>) {
    return O(static_cast<float>(v));
  } else if constexpr (is_16bit_float<In>) {
    return static_cast<O>(static_cast<float>(v));
  } else {
    return static_cast<O>(v);
  }
}

}  // namespace fusekit
