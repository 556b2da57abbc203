#!/bin/sh
# MPI benchmark on a GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257, GPT-2's tokenizer): 2 ranks x
# 1 thread against 1 rank x 2 threads for `cscrub compare` (3 IOI hypotheses, 64 prompts), `cscrub discover --method
# exact` (on a 4 x 8 x 256 GPT-2: every edge of GPT-2 small takes an hour) and `--method eap`, alternating; then the K-rank scaling model (mpi_bench.py says how it is fitted), checked at
# K = 2 and extrapolated to 64. Needs a build with MPI (tools/setup.sh) and Debian's python3-torch.
set -eu
. "$(dirname "$0")/bench_model.sh"
for file in encoder.json vocab.bpe; do
  [ -f "$model_dir/$file" ] || cp "$source_dir/models/gpt2-ioi-mini/$file" "$model_dir/"
done
# Exact patching of every edge of GPT-2 small takes about an hour here: its runs use a smaller GPT-2 (4 x 8 x 256).
exact_model="$build_dir/bench-gpt2-4x8x256-random"
if [ ! -f "$exact_model/model.safetensors" ]; then
  /usr/bin/python3 "$source_dir/tools/make_random_model.py" --layers 4 --heads 8 --d-model 256 --vocab 50257 \
    --n-ctx 128 --seed 2 "$exact_model"
fi
for file in encoder.json vocab.bpe; do
  [ -f "$exact_model/$file" ] || cp "$source_dir/models/gpt2-ioi-mini/$file" "$exact_model/"
done
cmake --build "$build_dir" --target cscrub >/dev/null
/usr/bin/python3 "$source_dir/tools/bench/mpi_bench.py" "$build_dir/cscrub" "$model_dir" --exact-model "$exact_model" \
  --source "$source_dir" "$@"
