# medseg_add_test: the one way a GoogleTest executable is made (tests/*).
#
#   medseg_add_test(NAME <target>
#                   SOURCES <file>...
#                   [LIBS <target>...]             # libraries under test
#                   [SYSTEM_INCLUDES <dir>...]     # third-party headers (no warnings)
#                   [PCH <header>...]              # precompiled headers
#                   [DEPENDS <target>...])         # built first (e.g. the medseg binary)
#
# Every test target gets the same treatment: includes written from the
# repository root ("tests/pipeline/common/test_files.h"), the data paths
# (MEDSEG_SOURCE_DIR, MEDSEG_BINARY), GTest's main, the project's warning
# flags, and registration with CTest through gtest_discover_tests (one CTest
# test per GoogleTest case, discovered after each build).
include_guard(GLOBAL)

function(medseg_add_test)
  cmake_parse_arguments(PARSE_ARGV 0 ARG "" "NAME" "SOURCES;LIBS;SYSTEM_INCLUDES;PCH;DEPENDS")
  if(NOT ARG_NAME OR NOT ARG_SOURCES)
    message(FATAL_ERROR "medseg_add_test: NAME and SOURCES are required")
  endif()
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "medseg_add_test(${ARG_NAME}): unknown arguments ${ARG_UNPARSED_ARGUMENTS}")
  endif()

  add_executable(${ARG_NAME} ${ARG_SOURCES})
  target_include_directories(${ARG_NAME} PRIVATE ${PROJECT_SOURCE_DIR})
  if(ARG_SYSTEM_INCLUDES)
    target_include_directories(${ARG_NAME} SYSTEM PRIVATE ${ARG_SYSTEM_INCLUDES})
  endif()
  target_compile_definitions(${ARG_NAME} PRIVATE
    MEDSEG_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    MEDSEG_BINARY="$<TARGET_FILE:medseg>")
  target_link_libraries(${ARG_NAME} PRIVATE ${ARG_LIBS} GTest::gtest_main medseg::warnings)
  if(ARG_PCH)
    target_precompile_headers(${ARG_NAME} PRIVATE ${ARG_PCH})
  endif()
  if(ARG_DEPENDS)
    add_dependencies(${ARG_NAME} ${ARG_DEPENDS})
  endif()
  gtest_discover_tests(${ARG_NAME} DISCOVERY_TIMEOUT 60)
endfunction()
