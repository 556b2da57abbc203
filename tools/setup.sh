#!/bin/sh
# Sets up a fresh Debian 12 machine for cscrub and builds it: installs the Debian packages it needs (when
# run as root and something is missing), fetches GPT-2's tokenizer files into the bundled model, and builds
# into build/ (Release, -march=native; pass -DCSCRUB_NATIVE=OFF in CMAKE_ARGS for a portable binary): the
# `cscrub` command and the Python module (build/python: `export PYTHONPATH=$PWD/build/python`).
#
# usage: tools/setup.sh            (BUILD_DIR=build, CMAKE_ARGS="" by default)
set -eu

source_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-"$source_dir/build"}

packages="build-essential cmake ninja-build pkg-config libeigen3-dev libboost-graph-dev libtomlplusplus-dev
libfmt-dev catch2 libcli11-dev nlohmann-json3-dev libpcre2-dev libicu-dev libssl-dev graphviz
python3-torch python3-numpy libopenblas0-pthread"
# The Python module (import cscrub) and its tests; strace shows the install test what an installed copy opens.
packages="$packages python3-dev pybind11-dev python3-pytest strace"
# SciPy: tools/reference_tests.py recomputes `cscrub test`'s statistics independently (tests/cli).
packages="$packages python3-scipy"
# MPI: `mpirun -np K cscrub run|compare|discover` shares the work among K ranks (README, "Several processes").
packages="$packages libopenmpi-dev openmpi-bin"
# The fuzzers (tools/fuzz.sh): clang with libFuzzer and its OpenMP runtime.
packages="$packages clang-14 libclang-rt-14-dev libomp-14-dev"
# Node.js and npm fetch the tokenizer files (and run the tokenizer test's JavaScript reference): any
# installation will do; Debian's only when there is none.
command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1 || packages="$packages nodejs npm"

missing=""
for package in $packages; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing Debian packages:$missing" >&2
    echo "setup.sh: install them with: sudo apt-get install$missing" >&2
    exit 1
  fi
  echo "setup.sh: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# GPT-2's tokenizer files for the bundled models (the repository does not ship them).
for model in gpt2-ioi-mini attn-only-2l-induction attn-only-4l-ioi; do
  "$source_dir/tools/fetch_tokenizer.sh" "$source_dir/models/$model"
done

# shellcheck disable=SC2086
cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir"
