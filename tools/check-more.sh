#!/bin/bash
# The checks that do not fit CI's 30 minutes on 2 cores (.ci/run runs the README's suite on PoCL,
# the whole suite on Intel's runtime, the local-memory kernels under oclgrind and the fuzzers).
# Run before landing kernel or host-memory work; each stage prints its result and time, and the
# script fails if any failed. Usage: tools/check-more.sh [asan] [rusticl] [oclgrind] (default: all)
#   asan      the whole Check suite (not the examples) built with ASan+UBSan on PoCL, small sizes,
#             without MPI (Open MPI's exit-time allocations come from unloaded components that no
#             LeakSanitizer suppression can name; test_dist covers the in-process transport)
#   rusticl   the op suites with the most kernel variety on rusticl/llvmpipe (RUSTICL_SUITES;
#             its cold compiles are slow: gemm alone took 388 s)
#   oclgrind  every suite with kernels of its own under oclgrind --data-races
set -uo pipefail
cd "$(dirname "$0")/.."
stages=("$@")
[ ${#stages[@]} -gt 0 ] || stages=(asan rusticl oclgrind)
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null || exit 1
status=0
for s in "${stages[@]}"; do
  t0=$(date +%s)
  case "$s" in
    asan)
      ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:detect_odr_violation=0 \
      LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      HALFCL_DEVICE=pocl HALFCL_TEST_SMALL=1 HALFCL_TEST_ARGS="--no-suite examples" \
        tools/run-tests.sh build-asan -Db_sanitize=address,undefined -Dbuildtype=debugoptimized -Dmpi=disabled ;;
    rusticl)
      # shellcheck disable=SC2086
      RUSTICL_ENABLE=llvmpipe HALFCL_DEVICE=rusticl HALFCL_TEST_SMALL=1 meson test -C build --print-errorlogs \
        --num-processes 1 --no-rebuild --logbase rusticl \
        ${RUSTICL_SUITES-tensor activation elementwise softmax quant amp compress} ;;
    oclgrind)
      tests/run-oclgrind.sh build ;;
    *) echo "check-more: unknown stage '$s' (asan, rusticl, oclgrind)"; exit 2 ;;
  esac
  rc=$?
  echo "=== check-more: $s: exit status $rc after $(( $(date +%s) - t0 )) s"
  [ $rc = 0 ] || status=1
done
exit $status
