#!/bin/sh
# Engine benchmark on a GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257): cscrub against tuned
# PyTorch on the same weights. Needs a build (tools/setup.sh) and Debian's python3-torch.
set -eu
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-"$source_dir/build"}
model_dir="$build_dir/bench-gpt2-small-random"
if [ ! -f "$model_dir/model.safetensors" ]; then
  /usr/bin/python3 "$source_dir/tools/make_random_model.py" --layers 12 --heads 12 --d-model 768 --vocab 50257 \
    --n-ctx 1024 --seed 1 "$model_dir"
fi
cmake --build "$build_dir" --target bench_engine >/dev/null
"$build_dir/tools/bench/bench_engine" "$model_dir" "$@"
