#!/bin/sh
# Scrubbing cost of the IOI paper's 26-head circuit on a GPT-2-small-shaped random model (200 prompts), in
# clean forward passes. Needs a build (tools/setup.sh) and Debian's python3-torch (to make the model).
set -eu
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-"$source_dir/build"}
model_dir="$build_dir/bench-gpt2-small-random"
if [ ! -f "$model_dir/model.safetensors" ]; then
  /usr/bin/python3 "$source_dir/tools/make_random_model.py" --layers 12 --heads 12 --d-model 768 --vocab 50257 \
    --n-ctx 1024 --seed 1 "$model_dir"
fi
cp "$source_dir/models/gpt2-ioi-mini/encoder.json" "$source_dir/models/gpt2-ioi-mini/vocab.bpe" "$model_dir/"
cmake --build "$build_dir" --target bench_scrub >/dev/null
"$build_dir/tools/bench/bench_scrub" "$model_dir" "$source_dir/hypotheses/gpt2-small/ioi/full.toml" "$@"
