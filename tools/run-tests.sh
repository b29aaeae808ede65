#!/bin/sh
# Configures, builds and runs the whole halfcl test suite on the device chosen by HALFCL_DEVICE
# (default: first GPU, else PoCL, Intel's CPU runtime or another CPU). Usage: tools/run-tests.sh [build-dir] [extra meson args]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
if [ -d "$BUILD" ]; then meson setup --reconfigure "$BUILD" "$@" >/dev/null; else meson setup "$BUILD" "$@" >/dev/null; fi
ninja -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs --num-processes 1
