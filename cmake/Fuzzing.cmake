# The libFuzzer build (the `fuzz` preset, -DMEDSEG_FUZZ=ON): clang, with every
# translation unit of ours instrumented for coverage (fuzzer-no-link) and for
# AddressSanitizer + UndefinedBehaviorSanitizer. The Debian libraries we link
# (LibTorch, ITK/GDCM, DCMTK, yaml-cpp, libstdc++) stay as Debian built them
# with gcc: ASan still sees every heap overflow and use-after-free in our code
# and every bad free anywhere; it does not see reads inside those libraries.
include_guard(GLOBAL)

if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
  message(FATAL_ERROR "MEDSEG_FUZZ needs clang (libFuzzer): use `cmake --preset fuzz`")
endif()

set(MEDSEG_FUZZ_SANITIZERS "address,undefined")
add_compile_options(
  -fsanitize=fuzzer-no-link,${MEDSEG_FUZZ_SANITIZERS}
  # UBSan findings are errors (the fuzzer sees a crash), not log lines.
  -fno-sanitize-recover=all
  # vptr checks need the RTTI of every class involved; ITK's and LibTorch's
  # come from gcc-built shared libraries and trip it without a real bug.
  -fno-sanitize=vptr
  -fno-omit-frame-pointer -g
  # Warnings.cmake's gcc-only -Wshadow=local
  -Wno-unknown-warning-option)
# Debian's ITK headers refuse clang; see fuzz/itk_clang_compat.h.
add_compile_options("$<$<COMPILE_LANGUAGE:CXX>:SHELL:-include ${PROJECT_SOURCE_DIR}/fuzz/itk_clang_compat.h>")
add_link_options(-fsanitize=${MEDSEG_FUZZ_SANITIZERS})

# clang's own OpenMP runtime (libomp) next to LibTorch's libgomp would put two
# OpenMP runtimes in one process. With -fopenmp=libgomp clang links libgomp
# and compiles our few OpenMP loops (the label kernels) serially instead,
# which is what the fuzz targets need.
find_library(MEDSEG_FUZZ_GOMP NAMES gomp libgomp.so.1 REQUIRED
             HINTS /usr/lib/gcc/x86_64-linux-gnu/12 /usr/lib/x86_64-linux-gnu)
set(OpenMP_CXX_FLAGS "-fopenmp=libgomp" CACHE STRING "" FORCE)
set(OpenMP_CXX_LIB_NAMES "gomp" CACHE STRING "" FORCE)
set(OpenMP_gomp_LIBRARY "${MEDSEG_FUZZ_GOMP}" CACHE FILEPATH "" FORCE)
