#!/bin/sh
# Builds the libFuzzer targets (fuzz/, clang) and runs one or all of them for SECONDS each, starting from
# the seed corpus fuzz/corpus/TARGET copied into a scratch working corpus (the repository is never
# written). Stops at the first finding and exits non-zero; the input that triggered it, libFuzzer's log
# and the working corpus stay in the scratch directory, whose path is printed. Clean runs remove it.
#
# usage: tools/fuzz.sh TARGET|all SECONDS
#   TARGET: safetensors, config, tokenizer, hypothesis, npy, dataset, task, pairs, graph_json, tokenizer_json,
#     gpt_neo_config or gpt_neox_config
# environment: BUILD_DIR (default build-fuzz), CXX (default clang++-14), FUZZ_WORK (the scratch directory;
#   default a new one under ${TMPDIR:-/tmp}), FUZZ_TIMEOUT (seconds one input may take, default 10; the
#   first input of a target also loads its fixtures, e.g. GPT-2's vocabulary under ASan), FUZZ_ARGS (more
#   libFuzzer flags, e.g. -jobs=2)
set -eu

targets_all="safetensors config tokenizer hypothesis npy dataset task pairs graph_json tokenizer_json gpt_neo_config gpt_neox_config"
usage() {
  echo "usage: tools/fuzz.sh TARGET|all SECONDS   (TARGET: $targets_all)" >&2
  exit 2
}
[ $# -eq 2 ] || usage
case "$2" in '' | *[!0-9]*) usage ;; esac
seconds=$2
if [ "$1" = all ]; then
  targets=$targets_all
else
  case " $targets_all " in *" $1 "*) targets=$1 ;; *) usage ;; esac
fi

source_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${BUILD_DIR:-"$source_dir/build-fuzz"}
compiler=${CXX:-clang++-14}
command -v "$compiler" >/dev/null 2>&1 || {
  echo "fuzz.sh: $compiler not found: install clang-14 and libclang-rt-14-dev (or set CXX)" >&2
  exit 1
}

# The tokenizer fuzzer reads GPT-2's vocabulary from the bundled model.
model_dir="$source_dir/models/gpt2-ioi-mini"
if [ ! -f "$model_dir/encoder.json" ] && [ ! -f "$model_dir/vocab.json" ]; then
  "$source_dir/tools/fetch_tokenizer.sh" "$model_dir"
fi

# A Debug build (asserts on) with the fuzzers' own -O1; the tests are not part of it.
cmake -S "$source_dir" -B "$build_dir" -G Ninja -DCMAKE_CXX_COMPILER="$compiler" -DCMAKE_BUILD_TYPE=Debug \
  -DCSCRUB_FUZZ=ON -DCSCRUB_TESTS=OFF -DCSCRUB_PYTHON=OFF >/dev/null
fuzzers=""
for target in $targets; do fuzzers="$fuzzers fuzz_$target"; done
# shellcheck disable=SC2086
if ! nice -n 5 cmake --build "$build_dir" --target $fuzzers >"$build_dir/fuzz-build.log" 2>&1; then
  cat "$build_dir/fuzz-build.log" >&2
  echo "fuzz.sh: the build failed" >&2
  exit 1
fi

work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/cscrub-fuzz.XXXXXX")}
mkdir -p "$work"
# The fuzzers write each input to a file for the readers that take paths: in memory when possible.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
  inputs_dir=$(mktemp -d /dev/shm/cscrub-fuzz.XXXXXX)
else
  inputs_dir="$work/inputs"
  mkdir -p "$inputs_dir"
fi
trap 'rm -rf "$inputs_dir"' EXIT

for target in $targets; do
  run_dir="$work/$target"
  mkdir -p "$run_dir/corpus"
  cp "$source_dir/fuzz/corpus/$target/"* "$run_dir/corpus/"
  dictionary=""
  [ -f "$source_dir/fuzz/$target.dict" ] && dictionary="-dict=$source_dir/fuzz/$target.dict"
  echo "fuzz.sh: $target for ${seconds}s (log: $run_dir/log)"
  status=0
  # shellcheck disable=SC2086
  TMPDIR="$inputs_dir" nice -n 10 "$build_dir/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout="${FUZZ_TIMEOUT:-10}" \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$run_dir/" $dictionary ${FUZZ_ARGS:-} \
    "$run_dir/corpus" >"$run_dir/log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run_dir/log" | tail -n 1)
  coverage=$(grep -E '^#[0-9]+' "$run_dir/log" | tail -n 1 | sed -n 's/.*\(cov: [0-9]* ft: [0-9]*\).*/\1/p')
  if [ "$status" -ne 0 ]; then
    tail -n 60 "$run_dir/log" >&2
    echo "fuzz.sh: $target FAILED (exit $status); inputs and log in $run_dir" >&2
    exit 1
  fi
  echo "fuzz.sh: $target clean: ${runs:-?} runs in ${seconds}s, $(find "$run_dir/corpus" -type f | wc -l) corpus inputs, ${coverage:-no coverage line}"
done

[ -n "${FUZZ_WORK:-}" ] || rm -rf "$work"
