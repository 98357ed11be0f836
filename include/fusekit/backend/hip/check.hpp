#pragma once
// Every runtime call is checked; the message names the call, the error and file:line.
// After each kernel launch FUSEKIT_CHECK_LAUNCH reads the last error and names the kernel.
#include "fusekit/backend/hip/vendor.hpp"
#include "fusekit/core/error.hpp"

#if FUSEKIT_GPUCC
namespace fusekit::gpu {

[[noreturn]] inline void throw_gpu_error(error_t e, const char* what, const char* file, int line) {
  fail("{} failed: {} ({}) at {}:{}", what, error_name(e), error_string(e), file, line);
}

inline void check_launch(const char* kernel, const char* file, int line) {
  const error_t e = get_last_error();
  if (e != success) fail("kernel launch '{}' failed: {} ({}) at {}:{}", kernel, error_name(e), error_string(e), file, line);
}

}  // namespace fusekit::gpu

#define FUSEKIT_GPU_CHECK(call)                                                          \
  do {                                                                                   \
    const ::fusekit::gpu::error_t fusekit_err_ = (call);                                 \
    if (fusekit_err_ != ::fusekit::gpu::success)                                         \
      ::fusekit::gpu::throw_gpu_error(fusekit_err_, #call, __FILE__, __LINE__);          \
  } while (0)

#define FUSEKIT_CHECK_LAUNCH(kernel_name) ::fusekit::gpu::check_launch(kernel_name, __FILE__, __LINE__)
#endif
