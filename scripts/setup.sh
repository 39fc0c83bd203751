#!/usr/bin/env bash
# Installs every build, test and data dependency of medseg from Debian packages.
# Idempotent and non-interactive; run as root or with sudo available.
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build ccache pkg-config git
  # the fuzz preset (scripts/fuzz.sh): clang 14 with libFuzzer and the sanitizer runtimes
  clang libclang-rt-14-dev
  # libraries (libgdcm-tools: GDCM's CMake config, pulled in by ITK, expects them;
  # libqt6opengl6-dev: Qt6Charts' CMake config requires Qt6OpenGL's)
  libgdcm-tools
  libtorch-dev libinsighttoolkit5-dev libyaml-cpp-dev qt6-base-dev qt6-charts-dev libqt6opengl6-dev
  nlohmann-json3-dev libcli11-dev libdeflate-dev
  # Gloo's headers, which LibTorch's c10d/ProcessGroupGloo.hpp includes
  # (libtorch-dev does not depend on it): data-parallel training
  libgloo-dev
  # the headers of the oneDNN LibTorch links (libdnnl2): the inference network
  # calls it directly (models/onednn_unet3d.h); its CMake config requires
  # OpenCL (Debian builds it with the OpenCL GPU runtime), which it only
  # recommends, so --no-install-recommends would leave find_package(dnnl) failing
  libdnnl-dev ocl-icd-opencl-dev
  # a real MPI launcher for the data-parallel tests (ranks from OMPI_COMM_WORLD_*)
  openmpi-bin
  # DICOM SEG writing/reading (dcmseg, dcmiod, dcmfg), networking (dcmnet, dcmtls)
  # and its independent validator (dciodvfy); a real PACS for the serve/fetch
  # tests (they start their own Orthanc in a temporary folder, never the
  # system service)
  libdcmtk-dev dcmtk dicom3tools orthanc
  # certificates for the DICOM TLS test
  openssl
  # tests and benchmarks
  libgtest-dev libgmock-dev libbenchmark-dev
  # medseg-gui tests and screenshots: offscreen Qt, or a virtual X server
  # (xvfb-run needs xauth) with software OpenGL
  xvfb xauth libgl1-mesa-dri
  # real data (see data_samples/README.md) and independent reference readers
  mricron-data invesalius-examples python3-pydicom python3-nibabel python3-numpy
  python3-torch
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup: done"
