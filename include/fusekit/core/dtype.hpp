#pragma once
// Element types: the runtime tag (DType), the compile-time mapping T -> DType, and float conversions
// that kernels use to load any storage type into fp32 math and store it back.
#include <cstdint>
#include <ostream>
#include <string_view>
#include <type_traits>

#include "fusekit/config.hpp"
#include "fusekit/core/bfloat16.hpp"
#include "fusekit/core/half.hpp"

namespace fusekit {

enum class DType : std::uint8_t { f32, f16, bf16, f64, i32, i64, u8, u16, boolean };

constexpr std::string_view name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::f64: return "f64";
    case DType::i32: return "i32";
    case DType::i64: return "i64";
    case DType::u8: return "u8";
    case DType::u16: return "u16";
    case DType::boolean: return "bool";
  }
  return "?";
}

inline std::ostream& operator<<(std::ostream& os, DType d) { return os << name(d); }

constexpr std::size_t size_of(DType d) {
  switch (d) {
    case DType::f32: case DType::i32: return 4;
    case DType::f16: case DType::bf16: case DType::u16: return 2;
    case DType::f64: case DType::i64: return 8;
    case DType::u8: case DType::boolean: return 1;
  }
  return 0;
}

template <class T> struct dtype_traits;  // defined only for supported element types
template <> struct dtype_traits<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_traits<half> { static constexpr DType value = DType::f16; };
template <> struct dtype_traits<bfloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_traits<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_traits<std::int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_traits<std::int64_t> { static constexpr DType value = DType::i64; };
template <> struct dtype_traits<std::uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_traits<std::uint16_t> { static constexpr DType value = DType::u16; };
template <> struct dtype_traits<bool> { static constexpr DType value = DType::boolean; };

template <class T>
concept Element = requires { dtype_traits<std::remove_const_t<T>>::value; };

// Floating storage types that kernels compute on in fp32.
template <class T>
concept FloatStorage = std::is_same_v<std::remove_const_t<T>, float> || std::is_same_v<std::remove_const_t<T>, half> ||
                       std::is_same_v<std::remove_const_t<T>, bfloat16>;

template <Element T>
inline constexpr DType dtype_of = dtype_traits<std::remove_const_t<T>>::value;

// Load any element as float, store float into any element (round to nearest even for half/bf16).
template <class T>
FUSEKIT_HOST_DEVICE inline float to_float(T v) {
  return static_cast<float>(v);
}

template <class T>
FUSEKIT_HOST_DEVICE inline T from_float(float f) {
  if constexpr (std::is_same_v<T, bool>) {
    return f != 0.0f;
  } else {
    return static_cast<T>(f);
  }
}

// max(a, b) that propagates NaN (fmaxf drops it): a NaN in a reduction must reach its result.
FUSEKIT_HOST_DEVICE inline float nan_max(float a, float b) { return a > b || a != a ? a : b; }

// Unit roundoff of a storage type (half the distance from 1 to the next value).
template <class T>
constexpr double unit_roundoff() {
  if constexpr (std::is_same_v<T, float>) return 0x1p-24;
  else if constexpr (std::is_same_v<T, half>) return 0x1p-11;
  else if constexpr (std::is_same_v<T, bfloat16>) return 0x1p-8;
  else if constexpr (std::is_same_v<T, double>) return 0x1p-53;
  else return 0.0;  // integers are exact
}

}  // namespace fusekit
