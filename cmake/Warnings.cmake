# Warnings for our own code only: third-party headers come in as SYSTEM
# includes, so their warnings stay out of the way.
add_library(medseg_warnings INTERFACE)
add_library(medseg::warnings ALIAS medseg_warnings)
target_compile_options(medseg_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor -Wcast-align
  -Woverloaded-virtual -Wno-unused-parameter)
