#!/bin/sh
# Scrubbing cost of the IOI paper's 26-head circuit on a GPT-2-small-shaped random model (200 prompts), in
# clean forward passes. Needs a build (tools/setup.sh) and Debian's python3-torch (to make the model).
set -eu
. "$(dirname "$0")/bench_model.sh"
cp "$source_dir/models/gpt2-ioi-mini/encoder.json" "$source_dir/models/gpt2-ioi-mini/vocab.bpe" "$model_dir/"
cmake --build "$build_dir" --target bench_scrub >/dev/null
"$build_dir/tools/bench/bench_scrub" "$model_dir" "$source_dir/hypotheses/gpt2-small/ioi/full.toml" "$@"
