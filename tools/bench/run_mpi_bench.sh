#!/bin/sh
# MPI benchmark on a GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257, GPT-2's tokenizer): 2 ranks x
# 1 thread against 1 rank x 2 threads for `cscrub compare` (3 IOI hypotheses, 64 prompts) and `cscrub discover
# --method eap`, alternating; then the K-rank scaling model (mpi_bench.py says how it is fitted), checked at
# K = 2 and extrapolated to 64. Needs a build with MPI (tools/setup.sh) and Debian's python3-torch.
set -eu
. "$(dirname "$0")/bench_model.sh"
for file in encoder.json vocab.bpe; do
  [ -f "$model_dir/$file" ] || cp "$source_dir/models/gpt2-ioi-mini/$file" "$model_dir/"
done
cmake --build "$build_dir" --target cscrub >/dev/null
/usr/bin/python3 "$source_dir/tools/bench/mpi_bench.py" "$build_dir/cscrub" "$model_dir" --source "$source_dir" "$@"
