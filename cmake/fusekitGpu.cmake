# fusekit_define_gpu_target(<NVIDIA|AMD> <core-target>): creates fusekit::hip, the opt-in GPU target.
# Used by fusekit's own CMakeLists and by the installed fusekitConfig.cmake, so both spellings of the
# package give the same target. fusekit_gpu_sources(<files>) marks sources that hold GPU code
# (HIP-dialect C++ written once) so they compile with the right compiler for the vendor.
include_guard(GLOBAL)

# A macro, not a function: enable_language(CUDA) must run in the caller's directory scope.
macro(fusekit_define_gpu_target vendor core)
  if(NOT TARGET fusekit::hip)
  add_library(fusekit_hip INTERFACE IMPORTED GLOBAL)
  if("${vendor}" STREQUAL "NVIDIA")
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    target_link_libraries(fusekit_hip INTERFACE ${core} CUDA::cudart)
    # -std=c++20 directly: CMake < 3.28 does not know CUDA 13's compile features.
    target_compile_options(fusekit_hip INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20>)
    # fmt 9 switches its constexpr off under nvcc, which breaks C++20 host code; nvcc 12+ handles it.
    target_compile_definitions(fusekit_hip INTERFACE $<$<COMPILE_LANGUAGE:CUDA>:FMT_USE_CONSTEXPR=1>)
    # Eigen's headers warn a lot under nvcc; Eigen never reaches device code here.
    target_compile_options(fusekit_hip INTERFACE
      $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -Xcudafe=--diag_suppress=20012,--diag_suppress=20011,--diag_suppress=20014,--diag_suppress=20015>)
  elseif("${vendor}" STREQUAL "AMD")
    find_package(hip REQUIRED)
    find_package(rocprim REQUIRED)
    target_link_libraries(fusekit_hip INTERFACE ${core} hip::device roc::rocprim)
    if(FUSEKIT_AMD_TARGETS)
      foreach(t IN LISTS FUSEKIT_AMD_TARGETS)
        target_compile_options(fusekit_hip INTERFACE --offload-arch=${t})
        target_link_options(fusekit_hip INTERFACE --offload-arch=${t})
      endforeach()
    endif()
  else()
    message(FATAL_ERROR "fusekit: FUSEKIT_GPU must be OFF, NVIDIA or AMD (got '${vendor}')")
  endif()
  add_library(fusekit::hip ALIAS fusekit_hip)
  set(FUSEKIT_GPU_VENDOR ${vendor} CACHE INTERNAL "GPU vendor of fusekit::hip")
  endif()
endmacro()

function(fusekit_gpu_sources)
  if(FUSEKIT_GPU_VENDOR STREQUAL "NVIDIA")
    set_source_files_properties(${ARGN} PROPERTIES LANGUAGE CUDA)
  endif()
endfunction()
