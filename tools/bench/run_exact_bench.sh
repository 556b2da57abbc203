#!/bin/sh
# Exact edge patching of every edge of a GPT-2-small-shaped random model (12 x 12 x 768, 32,491 edges) on 16 pairs
# x 16 tokens: cscrub against the naive way (a full forward pass per edge, timed on a sample of edges and
# extrapolated) and against an expert PyTorch implementation of the same algorithm, in one run; then the time of
# ACDC on the bundled model. Needs a build (tools/setup.sh) and Debian's python3-torch. Takes ~30-60 minutes on 2
# cores. Extra arguments go to bench_exact (e.g. --no-torch, --start 0).
set -eu
. "$(dirname "$0")/bench_model.sh"
cmake --build "$build_dir" --target bench_exact >/dev/null
"$build_dir/tools/bench/bench_exact" "$model_dir" --acdc-model "$source_dir/models/gpt2-ioi-mini" "$@"
