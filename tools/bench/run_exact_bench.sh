#!/bin/sh
# Exact edge patching of every edge of a GPT-2-small-shaped random model (12 x 12 x 768, 32,491 edges) on 16 pairs
# x 16 tokens: cscrub against the naive way (a full forward pass per edge, timed on a sample of each layer's edges
# and extrapolated) and against an expert PyTorch implementation of the same algorithm, alternating layer by layer
# in one run (--repeat R: R times per layer, best and median reported); then the time of ACDC on the bundled model
# (50 IOI pairs, tau 0.0575: the ACDC paper's IOI settings). Needs a build (tools/setup.sh) and Debian's
# python3-torch. Takes ~40 minutes per repeat on 2 idle cores (nothing else may run: a job on the other core
# doubled both implementations' times here). Extra arguments go to bench_exact (e.g.
# --repeat 3, --no-torch, --start 0, --layers 0,logits).
set -eu
. "$(dirname "$0")/bench_model.sh"
cmake --build "$build_dir" --target bench_exact >/dev/null
# ACDC's IOI pairs come from the task files of the sources.
CSCRUB_DATASETS_DIR=${CSCRUB_DATASETS_DIR:-"$source_dir/datasets"} \
  "$build_dir/tools/bench/bench_exact" "$model_dir" --acdc-model "$source_dir/models/gpt2-ioi-mini" \
  --acdc-pairs 50 --acdc-threshold 0.0575 "$@"
