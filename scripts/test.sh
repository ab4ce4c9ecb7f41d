#!/usr/bin/env bash
# test.sh - install dependencies, build with ASan+UBSan and -Werror, and run
# every test (unit, replay, store, lab end-to-end) through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DEW_SANITIZE=ON -DEW_WERROR=ON >/dev/null
cmake --build build-test -j"$(nproc)"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --test-dir build-test --output-on-failure -j2 "$@"
