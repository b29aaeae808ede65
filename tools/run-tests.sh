#!/bin/sh
# Configures, builds and runs the whole halfcl test suite on the device chosen by HALFCL_DEVICE
# (default: first GPU, else PoCL, Intel's CPU runtime or another CPU). Usage: tools/run-tests.sh [build-dir] [extra meson args]
set -eu
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
if [ -d "$BUILD" ]; then meson setup --reconfigure "$BUILD" "$@" >/dev/null; else meson setup "$BUILD" "$@" >/dev/null; fi
ninja -C "$BUILD"
# the text data sets (Debian's word lists and fortunes, from tools/setup.sh): 3,000 langid words
# are a case of the text_classify test, skipped when they cannot be built
[ -f data/text/langid.tsv ] || tools/make_text_datasets.sh data/text >/dev/null ||
  echo "run-tests: data/text not built (tools/setup.sh installs its packages); its example case is skipped"
# HALFCL_TEST_ARGS: more meson test arguments (CI's sanitizer stage: --no-suite examples)
# shellcheck disable=SC2086
meson test -C "$BUILD" --print-errorlogs --num-processes 1 ${HALFCL_TEST_ARGS:-}
