#!/bin/sh
# Discovery benchmark on a GPT-2-small-shaped random model (12 x 12 x 768, vocab 50,257), 32 pairs x 16 tokens:
# cscrub's EAP-IG (M = 5) against an expert PyTorch implementation of the same scores, alternating, and one
# backward pass against one forward pass. Needs a build (tools/setup.sh) and Debian's python3-torch.
set -eu
. "$(dirname "$0")/bench_model.sh"
cmake --build "$build_dir" --target bench_discover >/dev/null
"$build_dir/tools/bench/bench_discover" "$model_dir" "$@"
