#!/usr/bin/env bash
# Configures (once) and builds the project with 2 jobs, printing progress.
#   scripts/build.sh [BUILD_DIR [CMAKE_ARGS...]]     default BUILD_DIR: build
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${1:-build}
shift || true
if [ ! -f "$build_dir/CMakeCache.txt" ]; then
  echo "== configuring $build_dir $*"
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
fi
echo "== building $build_dir"
cmake --build "$build_dir" -j"${HA_JOBS:-2}"
