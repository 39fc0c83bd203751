// Forced first into every C++ translation unit of the fuzz build (see
// cmake/Fuzzing.cmake). Debian's ITK 5.2 generated its compiler detection
// header for gcc alone: under clang, itk_compiler_detection.h stops with
// "#error Unsupported compiler" (clang is not among its compiler branches, and
// clang's __GNUC__ 4.2 fails the gcc branch's version check). Read it once
// here as gcc 12.2 would; its include guard then keeps ITK from reading it
// again. Every C++ feature it turns on for gcc 12 is one clang 14 has in
// C++17, and nothing else in ITK's headers depends on the compiler's name.
#pragma once
#if defined(__clang__) && defined(__cplusplus) && __has_include(<itk_compiler_detection.h>)
#pragma push_macro("__clang__")
#pragma push_macro("__GNUC__")
#pragma push_macro("__GNUC_MINOR__")
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wbuiltin-macro-redefined"
#undef __clang__
#undef __GNUC__
#undef __GNUC_MINOR__
#define __GNUC__ 12
#define __GNUC_MINOR__ 2
#include <itk_compiler_detection.h>
#pragma clang diagnostic pop
#pragma pop_macro("__GNUC_MINOR__")
#pragma pop_macro("__GNUC__")
#pragma pop_macro("__clang__")
#endif
