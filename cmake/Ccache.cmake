# Route compilations through ccache when it is installed. Precompiled headers
# need the sloppiness settings below, otherwise ccache never hits.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(_medseg_ccache_env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
      CCACHE_BASEDIR=${CMAKE_SOURCE_DIR})
  set(CMAKE_C_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${_medseg_ccache_env} ${CCACHE_PROGRAM})
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env ${_medseg_ccache_env} ${CCACHE_PROGRAM})
  message(STATUS "medseg: using ccache at ${CCACHE_PROGRAM}")
endif()
