#pragma once
// Float64 reference for GEMM: acc[b, m, n] = alpha * sum_k A[b, m, k] B[b, k, n] (+ beta * C[b, m, n]),
// a triple loop in double over the stored (rounded) inputs. Epilogues are applied by the tests, in
// double, from their definitions.
#include "fusekit/core/convert.hpp"
#include "fusekit/core/tensor.hpp"

namespace fusekit::reference {

namespace detail {
// Element (b, r, c) of a rank-2 (shared by every batch entry) or rank-3 view.
template <class T, std::size_t R>
double batched_at(const HostView<const T, R>& v, index_t b, index_t r, index_t c) {
  if constexpr (R == 2) return static_cast<double>(v(r, c));
  else return static_cast<double>(v(b, r, c));
}
}  // namespace detail

template <class T, std::size_t RA, std::size_t RB>
HostTensor<double, 3> gemm(const HostView<const T, RA>& a, const HostView<const T, RB>& b, index_t batch,
                           double alpha = 1.0) {
  const index_t m = a.size(RA - 2), k = a.size(RA - 1), n = b.size(RB - 1);
  HostTensor<double, 3> y(Shape<3>{batch, m, n});
  for (index_t bi = 0; bi < batch; ++bi)
    for (index_t i = 0; i < m; ++i)
      for (index_t j = 0; j < n; ++j) {
        double s = 0;
        for (index_t q = 0; q < k; ++q) s += detail::batched_at(a, bi, i, q) * detail::batched_at(b, bi, q, j);
        y.view()(bi, i, j) = alpha * s;
      }
  return y;
}

}  // namespace fusekit::reference
