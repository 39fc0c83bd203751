# Every dependency comes from a Debian package (see scripts/setup.sh).
find_package(Threads REQUIRED)
find_package(Torch REQUIRED)
# Only the ITK modules we use: this also limits which image IO factories are
# registered, so an unexpected format is refused instead of half-read.
find_package(ITK REQUIRED COMPONENTS
  ITKCommon ITKIOImageBase ITKIONIFTI ITKIONRRD ITKIOMeta ITKIOGDCM ITKGDCM
  ITKImageGrid ITKImageFunction ITKImageIntensity ITKImageStatistics
  ITKThresholding ITKConnectedComponents ITKSmoothing ITKLabelMap ITKDistanceMap)
find_package(yaml-cpp REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)

# Torch's imported target carries its include dirs; mark them SYSTEM so our
# warning flags do not flood the build with LibTorch's own warnings.
add_library(medseg_torch INTERFACE)
target_link_libraries(medseg_torch INTERFACE ${TORCH_LIBRARIES})
target_include_directories(medseg_torch SYSTEM INTERFACE ${TORCH_INCLUDE_DIRS})
target_compile_options(medseg_torch INTERFACE ${TORCH_CXX_FLAGS})

if(MEDSEG_BUILD_TESTS)
  find_package(GTest REQUIRED)
  include(GoogleTest)
endif()
if(MEDSEG_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
