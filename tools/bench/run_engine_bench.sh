#!/bin/sh
# Engine benchmark on a GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257): cscrub against tuned
# PyTorch on the same weights. Needs a build (tools/setup.sh) and Debian's python3-torch.
set -eu
. "$(dirname "$0")/bench_model.sh"
cmake --build "$build_dir" --target bench_engine >/dev/null
"$build_dir/tools/bench/bench_engine" "$model_dir" "$@"
