#!/bin/bash
# Runs each op test binary (and the tensor tests) under oclgrind --data-races, which simulates
# the kernels and reports out-of-bounds accesses and data races. Any such
# report fails. Usage: tests/run-oclgrind.sh BUILD_DIR [SUITE...] (SUITE: e.g. gemm for
# test_gemm; none = every suite with kernels of its own). Prints each suite's seconds.
set -uo pipefail
BUILD=${1:-build}
[ $# -gt 0 ] && shift
status=0
if [ $# -gt 0 ]; then tests=(); for s in "$@"; do tests+=("$BUILD/tests/test_$s"); done
else tests=("$BUILD"/tests/test_*); fi
for t in "${tests[@]}"; do
  [ -f "$t" ] && [ -x "$t" ] || { [ $# -gt 0 ] && { echo "FAIL: no test binary $t"; status=1; }; continue; }
  name=$(basename "$t")
  # no kernels of their own; test_nn_seq and test_nn_quant compose the attention, rnn, norm,
  # embedding and quant kernels that their own suites check here (simulated, test_nn_seq's finite
  # differences would take an hour)
  # (test_nn likewise; test_half, test_io and test_bad_inputs launch no kernel worth simulating)
  # test_dist and test_dist_mpi (under mpirun in the suite) exchange gradients on the host: no kernels
  case "$name" in test_runtime|test_cache|test_text|test_half|test_io|test_bad_inputs|test_nn|test_nn_seq|test_nn_quant|test_dist|test_dist_mpi) continue ;; esac
  log=$(mktemp)
  echo "--- $name"
  t0=$(date +%s)
  CK_FORK=no HALFCL_CACHE_DIR=off HALFCL_TEST_SMALL=1 oclgrind --data-races "$t" >"$log" 2>&1
  rc=$?
  echo "($name: $(( $(date +%s) - t0 )) s)"
  if [ $rc -ne 0 ] || grep -qE "^(Invalid|Data race|Uninitialized|Read-write data race|Write-write data race)|error was encountered" "$log"; then
    echo "FAIL: $name (exit $rc)"; tail -40 "$log"; status=1
  else
    tail -2 "$log"
  fi
  rm -f "$log"
done
exit $status
