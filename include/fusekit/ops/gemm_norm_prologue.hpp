#pragma once
// What the GEMMs with a row-norm prologue share (ops/gemm_rmsnorm.hpp, ops/gemm_layernorm.hpp): A's row
// checks, the caller's scratch, and the unfused form (normalise A's rows into scratch, then the GEMM).
#include "fusekit/ops/gemm.hpp"

namespace fusekit::detail {

// The unfused prologue: A's rows (dense, evenly spaced) normalised by normalise(an, a_rows) into scratch
// rows (the caller's, else the stream's workspace slot 1 on the GPU, as the convolution's staged
// prologue, or a CPU temporary), then the GEMM on them.
template <class Ctx, class C, class A, class B, class... S, class Normalise>
void normalised_first_gemm(const char* name, Ctx& ctx, const C& c, const A& a, const B& b, const Epilogue<S...>& epi,
                           const GemmOptions& opt, typename A::value_type* scratch, index_t scratch_elems,
                           const Normalise& normalise) {
  using T = typename A::value_type;
  constexpr std::size_t RA = A::rank;
  const index_t rows = RA == 3 ? a.size(0) * a.size(1) : a.size(0), k = a.size(RA - 1);
  const TensorView<const T, 2, typename A::space> a_rows(a.data(), {rows, k}, {a.stride(RA - 2), 1});
  auto run_on = [&](T* mem) {
    const TensorView<T, 2, typename A::space> an(mem, {rows, k});
    normalise(an, a_rows);
    if constexpr (RA == 3) gemm_impl(ctx, c, an.reshape(a.shape()).as_const(), b, epi, opt);
    else gemm_impl(ctx, c, an.as_const(), b, epi, opt);
  };
  if (rows == 0 || c.empty()) return gemm_impl(ctx, c, a, b, epi, opt);
  if (scratch) {
    FUSEKIT_CHECK(scratch_elems >= rows * k, "{}: the scratch tensor holds {} elements, the normalised a needs {} ({} rows "
                  "of {})", name, scratch_elems, rows * k, rows, k);
    run_on(scratch);
  } else if constexpr (std::is_same_v<backend_of<Ctx>, CpuBackend>) {
    HostTensor<T, 2> tmp(Shape<2>{rows, k});
    run_on(tmp.data());
  } else {
    run_on(static_cast<T*>(ctx.workspace(static_cast<std::size_t>(rows * k) * sizeof(T), 1)));
  }
}

// The caller's scratch for the normalised A: a's dtype, dense, in the context's memory space.
template <class Ctx, class Av, class Sv>
auto prologue_scratch(const char* name, const Av& a, Sv&& scratch) {
  const auto sv = scratch.view();
  using T = typename decltype(a.view())::value_type;
  static_assert(std::is_same_v<typename decltype(sv)::element_type, T>,
                "gemm with a norm prologue: the scratch tensor must have a's dtype (and not be const)");
  require_space<Ctx, decltype(sv)>();
  FUSEKIT_CHECK(sv.is_contiguous(), "{}: the scratch tensor must be dense (shape {}, strides {})", name, sv.shape(),
                sv.strides());
  return sv;
}

// A's shape for a row-norm prologue: rank 2 or 3, dense rows evenly spaced across the batch.
template <class A>
void check_prologue_rows(const char* name, const A& a) {
  constexpr std::size_t RA = A::rank;
  static_assert(RA == 2 || RA == 3, "gemm with a norm prologue: a must be [M, K] or [batch, M, K]");
  const bool dense_rows = a.stride(RA - 1) == 1 && (RA == 2 || a.size(0) == 1 || a.stride(0) == a.size(1) * a.stride(1));
  FUSEKIT_CHECK(dense_rows, "{}: a must have dense rows, evenly spaced across the batch (shape {}, strides {})", name,
                a.shape(), a.strides());
}

}  // namespace fusekit::detail
