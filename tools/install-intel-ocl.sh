#!/bin/sh
# Installs Intel's CPU runtime for OpenCL (cl_khr_fp16 and cl_intel_bfloat16 on x86 CPUs) from
# the PyPI wheels into a fixed prefix and registers it with the ICD loader. Nothing is fetched
# at run time. The wheels' data/lib folders are unpacked into one folder: libintelocl.so has
# RUNPATH $ORIGIN, so its dependencies (TBB, the compiler runtime) are found there without
# LD_LIBRARY_PATH or ld.so.conf (which would put Intel's libtbb/libhwloc ahead of Debian's for
# every program). The wheel's own libOpenCL.so is left out: Debian's ICD loader stays the one.
# The wheel's ICD file names a placeholder path, so ours is written with the absolute one.
# Usage (as root): tools/install-intel-ocl.sh [prefix]   (default /opt/halfcl-intel-ocl)
set -eu
PREFIX=${1:-/opt/halfcl-intel-ocl}
ICD=/etc/OpenCL/vendors/halfcl-intel-cpu.icd
# pinned together: the runtime asks for tbb 2023.* and the 2026 compiler runtime
WHEELS="intel-opencl-rt==2026.2.0 intel-cmplr-lib-rt==2026.2.0 tbb==2023.2.0 tcmlib==1.6.0"
STAMP="$PREFIX/.installed"

case "$(uname -m)" in x86_64) ;; *) echo "install-intel-ocl: x86-64 only (this is $(uname -m))" >&2; exit 1 ;; esac
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WHEELS" ] && [ -f "$PREFIX/lib/libintelocl.so" ]; then
  echo "$PREFIX/lib/libintelocl.so" >"$ICD"
  echo "halfcl: Intel CPU OpenCL runtime already in $PREFIX"
  exit 0
fi
PIP=""
for py in python3 /usr/bin/python3; do
  if "$py" -m pip --version >/dev/null 2>&1; then PIP="$py -m pip"; break; fi
done
[ -n "$PIP" ] || { echo "install-intel-ocl: no pip (apt-get install python3-pip)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# shellcheck disable=SC2086
$PIP download -q --no-deps --only-binary=:all: --platform manylinux_2_28_x86_64 \
  --python-version 3 -d "$tmp/wheels" $WHEELS || { echo "install-intel-ocl: download from PyPI failed" >&2; exit 1; }
mkdir -p "$tmp/lib"
for w in "$tmp"/wheels/*.whl; do
  unzip -q -o "$w" '*.data/data/lib/*' -d "$tmp/x"
done
for d in "$tmp"/x/*.data/data/lib; do cp -a "$d"/. "$tmp/lib/"; done
rm -f "$tmp"/lib/libOpenCL.so*
[ -f "$tmp/lib/libintelocl.so" ] || { echo "install-intel-ocl: libintelocl.so missing from the wheels" >&2; exit 1; }
rm -rf "$PREFIX.new"
mkdir -p "$PREFIX.new"
mv "$tmp/lib" "$PREFIX.new/lib"
echo "$WHEELS" >"$PREFIX.new/.installed"
rm -rf "$PREFIX"
mv "$PREFIX.new" "$PREFIX"
mkdir -p /etc/OpenCL/vendors
echo "$PREFIX/lib/libintelocl.so" >"$ICD"
echo "halfcl: Intel CPU OpenCL runtime installed in $PREFIX ($ICD)"
