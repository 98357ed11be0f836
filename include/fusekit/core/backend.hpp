#pragma once
// Backends are types. Each context names its backend (cpu::Context -> CpuBackend, hip::Stream ->
// HipBackend); ops dispatch through OpImpl<Op, Backend>, whose primary template fails to compile with a
// sentence when an op has no implementation for a backend.
#include <type_traits>

#include "fusekit/core/memory.hpp"

namespace fusekit {

struct CpuBackend {
  using space = HostSpace;
  static constexpr const char* name = "cpu";
};

struct HipBackend {
  using space = DeviceSpace;
  static constexpr const char* name = "hip";
};

template <class... T> inline constexpr bool dependent_false = false;

// Specialised by cpu/<op>.hpp and kernels/<op>.hpp. Reaching the primary template is a usage error.
template <class Op, class Backend>
struct OpImpl {
  static_assert(dependent_false<Op, Backend>,
                "fusekit: this op has no implementation for this backend. For hip::Stream, compile the "
                "translation unit with hipcc or nvcc (link fusekit::hip) and include the op's header "
                "after <fusekit/backend/hip.hpp>; for cpu::Context, check docs/architecture.md for the "
                "ops the CPU backend provides.");
};

template <class Ctx>
concept Context = requires {
  typename Ctx::backend;
  typename Ctx::space;
};

template <Context Ctx> using backend_of = typename Ctx::backend;

}  // namespace fusekit
