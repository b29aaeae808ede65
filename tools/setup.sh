#!/bin/sh
# Installs what halfcl needs on Debian 12 (as root, or elevating itself through sudo): compiler
# and build tools (and clang with its libFuzzer and sanitizer runtimes, for tools/fuzz.sh), the
# OpenCL ICD loader and headers, PoCL (CPU OpenCL), rusticl/llvmpipe and oclgrind (extra
# correctness checks), CLBlast, OpenBLAS (benchmark reference), Check (tests),
# cJSON and zlib, Open MPI (the multi-process data-parallel transport; meson option mpi),
# the Fashion-MNIST data set, the word lists and fortunes that tools/make_text_datasets.sh turns into text data sets, and Intel's CPU OpenCL runtime (the
# implementation with cl_khr_fp16 arithmetic here) from PyPI into /opt/halfcl-intel-ocl.
set -eu
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "setup.sh: run as root (sudo is not installed)" >&2; exit 1; }
  exec sudo "$0" "$@"
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq \
  build-essential meson ninja-build pkg-config python3 python3-pip unzip clang libclang-rt-dev \
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-c-headers clinfo \
  pocl-opencl-icd mesa-opencl-icd oclgrind \
  libclblast-dev libopenblas-dev check libcjson-dev zlib1g-dev \
  libopenmpi-dev openmpi-bin \
  dataset-fashion-mnist \
  wamerican wfrench wngerman wspanish witalian wportuguese wdutch fortunes fortunes-min >/dev/null
echo "halfcl: packages installed"
"$(dirname "$0")/install-intel-ocl.sh" || echo "halfcl: Intel's CPU OpenCL runtime was not installed (see above); PoCL stays the CPU device"
