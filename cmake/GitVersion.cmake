# The git commit goes into `medseg --version` and, later, into model bundles'
# provenance. Read at configure time; "unknown" outside a git checkout.
execute_process(
  COMMAND git rev-parse --short=12 HEAD
  WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}
  OUTPUT_VARIABLE MEDSEG_GIT_COMMIT
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET)
if(NOT MEDSEG_GIT_COMMIT)
  set(MEDSEG_GIT_COMMIT "unknown")
endif()
