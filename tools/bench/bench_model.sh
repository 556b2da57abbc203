# Sourced by the bench scripts: sets source_dir, build_dir (BUILD_DIR, default build) and model_dir, the
# GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257) they run on, made once in the build directory
# with Debian's python3-torch.
source_dir=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-"$source_dir/build"}
model_dir="$build_dir/bench-gpt2-small-random"
if [ ! -f "$model_dir/model.safetensors" ]; then
  /usr/bin/python3 "$source_dir/tools/make_random_model.py" --layers 12 --heads 12 --d-model 768 --vocab 50257 \
    --n-ctx 1024 --seed 1 "$model_dir"
fi
