// Built for a GPU architecture the test machine lacks (tests/CMakeLists.txt picks one outside
// CMAKE_CUDA_ARCHITECTURES, machine code only): creating a stream must fail with fusekit's message,
// which ctest matches, rather than some kernel's bare "no kernel image" later.
#include <cstdio>

#include "fusekit/backend/hip/stream.hpp"

int main() {
  using namespace fusekit;
  if (hip::device_count() == 0) {
    std::puts("no GPU");
    return 0;
  }
  try {
    hip::Stream s;
    std::puts("a stream was created: the architecture check did not fire");
    return 1;
  } catch (const Error& e) {
    std::printf("%s\n", e.what());
    hip::Stream* again = nullptr;  // the error is not sticky: the next attempt fails the same way
    try {
      again = new hip::Stream;
    } catch (const Error& e2) {
      std::printf("again: %s\n", e2.what());
    }
    delete again;
    return again ? 1 : 0;
  }
}
