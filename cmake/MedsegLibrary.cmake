# medseg_add_library: the one way a medseg library is made (core, models,
# pipeline, app/gui/logic).
#
#   medseg_add_library(<name>                      # target medseg_<name>, alias medseg::<name>
#                      SOURCES <file>...
#                      [PUBLIC_LIBS <target>...]   # what its public headers need
#                      [PRIVATE_LIBS <target>...]) # what only its sources need
#
# Includes are written from the repository root ("models/unet3d.h"), and the
# project's warning flags apply to the library's own sources only.
include_guard(GLOBAL)

function(medseg_add_library name)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "" "SOURCES;PUBLIC_LIBS;PRIVATE_LIBS")
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "medseg_add_library(${name}): SOURCES is required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "medseg_add_library(${name}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  add_library(medseg_${name} STATIC ${ARG_SOURCES})
  add_library(medseg::${name} ALIAS medseg_${name})
  target_include_directories(medseg_${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(medseg_${name} PUBLIC ${ARG_PUBLIC_LIBS} PRIVATE ${ARG_PRIVATE_LIBS} medseg::warnings)
endfunction()
