#pragma once
// Comparing a result with a float64 reference: per-dtype tolerances and a report that lists the first
// mismatches, the largest errors, the share of wrong elements and any element left unwritten (NaN where
// the reference is finite: outputs are poisoned with NaN before a run).
#include <cmath>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "fusekit/core/convert.hpp"
#include "fusekit/core/format.hpp"
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

struct Tolerance {
  double rtol;
  double atol;
};

// Tolerance for a result stored in T after fp32 math: a few units of T's rounding error plus fp32 slack.
template <class T>
constexpr Tolerance tolerance_for() {
  if constexpr (std::is_same_v<T, double>) return {1e-12, 1e-12};
  else if constexpr (std::is_same_v<T, float>) return {1e-5, 1e-6};
  else if constexpr (is_16bit_float<T>) return {2.0 * unit_roundoff<T>(), 1e-3 * unit_roundoff<T>() * 8};
  else return {0.0, 0.0};
}

struct Comparison {
  bool ok = true;
  index_t total = 0;
  index_t mismatches = 0;
  double max_abs = 0;
  double max_rel = 0;
  std::string report;
  explicit operator bool() const { return ok; }
};

// Compares element-wise; NaN matches only NaN, infinities only the same infinity.
template <class T, std::size_t R>
Comparison compare(const HostView<const T, R>& actual, const HostView<const double, R>& expected, Tolerance tol,
                   const std::string& what = "result", int show = 8) {
  Comparison c;
  if (actual.shape() != expected.shape()) {
    c.ok = false;
    c.report = fmt::format("{}: shape {} differs from the reference's {}", what, actual.shape(), expected.shape());
    return c;
  }
  std::string lines;
  std::array<index_t, R> idx{};
  const index_t n = actual.numel();
  for (index_t lin = 0; lin < n; ++lin) {
    index_t rem = lin, ao = 0, eo = 0;
    for (std::size_t d = R; d-- > 0;) {
      idx[d] = rem % actual.size(d);
      rem /= actual.size(d);
      ao += idx[d] * actual.stride(d);
      eo += idx[d] * expected.stride(d);
    }
    const double a = static_cast<double>(actual.data()[ao]);
    const double e = expected.data()[eo];
    bool good;
    double err = 0;
    if (std::isnan(e) || std::isnan(a)) good = std::isnan(e) && std::isnan(a);
    else if (std::isinf(e) || std::isinf(a)) good = a == e;
    else {
      err = std::fabs(a - e);
      good = err <= tol.atol + tol.rtol * std::fabs(e);
      c.max_abs = std::max(c.max_abs, err);
      if (e != 0) c.max_rel = std::max(c.max_rel, err / std::fabs(e));
    }
    ++c.total;
    if (!good) {
      if (c.mismatches < show)
        lines += fmt::format("  at [{}]: got {:.9g}, expected {:.9g}{}\n", fmt::join(idx, ", "), a, e,
                             std::isnan(a) && !std::isnan(e) ? " (unwritten or NaN)" : "");
      ++c.mismatches;
    }
  }
  c.ok = c.mismatches == 0;
  c.report = fmt::format("{} ({}, shape {}): {} of {} elements wrong ({:.4f}%), max abs err {:.3g}, max rel err "
                                     "{:.3g}, tolerance rtol {:.3g} atol {:.3g}\n{}",
                         what, dtype_of<T>, actual.shape(), c.mismatches, c.total,
                         c.total ? 100.0 * static_cast<double>(c.mismatches) / static_cast<double>(c.total) : 0.0,
                         c.max_abs, c.max_rel, tol.rtol, tol.atol, lines);
  return c;
}

}  // namespace fusekit::reference
