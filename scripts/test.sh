#!/usr/bin/env bash
# README command 2: installs what is missing, builds, and runs every test:
#   1. the formatting check (clang-format);
#   2. the test suite (unit, simulation, integration, end-to-end) on the normal build;
#   3. the same suite on an AddressSanitizer + UndefinedBehaviorSanitizer build;
#   4. the fuzzers (configuration parser, totem wire layer, CIB XML and patchsets), briefly.
# scripts/test.sh --quick runs only 1 and 2. Long runs (label `long`) are opt-in: HA_LONG_TESTS=1.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1

scripts/setup-deps.sh

echo "== format check"
mapfile -t sources < <(git ls-files '*.cc' '*.h' 2>/dev/null || find . -name '*.cc' -o -name '*.h')
if ! clang-format --dry-run --Werror "${sources[@]}"; then
  echo "format check failed: run clang-format -i on the files above" >&2
  exit 1
fi

label_args=(-LE long)
[ "${HA_LONG_TESTS:-0}" = 1 ] && label_args=()

run_suite() {
  local dir=$1
  echo "== tests in $dir"
  (cd "$dir" && ctest --output-on-failure -j2 "${label_args[@]}")
}

scripts/build.sh build
run_suite build

if [ $quick -eq 0 ]; then
  scripts/build.sh build-asan -DHA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
  # Leaks are reported by the unit tests; gRPC's process-lifetime singletons are not leaks.
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  run_suite build-asan
  unset ASAN_OPTIONS UBSAN_OPTIONS

  # Each fuzzer runs HA_FUZZ_SECONDS (default 20 s) from its seed corpus, in a scratch directory
  # so that new inputs do not land in the seeds.
  fuzz_seconds=${HA_FUZZ_SECONDS:-20}
  # Configured every time (cheap), so that fuzz targets added since the last run exist.
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -DHA_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build-fuzz -j2 --target conf_fuzz wire_fuzz cib_xml_fuzz
  for fuzzer in config/conf_fuzz:config/fuzz_corpus membershipd/wire_fuzz:membershipd/wire_fuzz_corpus \
      cibd/cib_xml_fuzz:cibd/cib_fuzz_corpus; do
    echo "== fuzzing ${fuzzer%%:*} (${fuzz_seconds} s)"
    work=$(mktemp -d)
    ./build-fuzz/"${fuzzer%%:*}" -max_total_time="$fuzz_seconds" -print_final_stats=1 \
      "$work" "${fuzzer#*:}" 2>&1 | tail -n 12
    rm -rf "$work"
  done
fi
echo "== all tests passed"
