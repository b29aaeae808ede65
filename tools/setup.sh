#!/bin/sh
# Installs what halfcl needs on Debian 12 (run as root or with sudo): compiler and build tools,
# the OpenCL ICD loader and headers, PoCL (CPU OpenCL), rusticl/llvmpipe and oclgrind (extra
# correctness checks), CLBlast, OpenBLAS (benchmark reference), Check (tests), cJSON and zlib,
# and the Fashion-MNIST data set for the training example.
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq \
  build-essential meson ninja-build pkg-config python3 \
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers clinfo \
  pocl-opencl-icd mesa-opencl-icd oclgrind \
  libclblast-dev libopenblas-dev check libcjson-dev zlib1g-dev \
  dataset-fashion-mnist >/dev/null
echo "halfcl: packages installed"
