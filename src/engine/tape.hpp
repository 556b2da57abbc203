// What a forward pass keeps for the backward pass (backward.hpp's BackwardTape): the activations the backward
// reads, written in place by the forward (the residual stream is not updated in place but into one matrix per
// stage), so that keeping them costs no copies. Attention patterns, layer-norm statistics and GELU outputs are
// recomputed by the backward instead (llm.c keeps them; they are cheap to recompute and large for long prompts).
#pragma once
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/engine/tensor.hpp"

namespace cscrub::engine {

struct TapeStorage {
  TapeStorage(const ModelConfig& config, int rows);
  bool fits(const ModelConfig& config, int rows) const;

  int batch = 0, positions = 0;  // of the forward that filled it (0 before one did)
  // 2 n_layer + 1 matrices [rows, d_model]: [2L] the residual stream entering layer L, [2L + 1] between its
  // attention and its MLP, [2 n_layer] the final residual stream (ln_f's input).
  std::vector<RowMatrix> residuals;
  std::vector<RowMatrix> qkv;      // per layer [rows, 3 d_model]: the queries, keys and values attention read
  std::vector<RowMatrix> mlp_pre;  // per layer [rows, d_mlp]: the MLP's pre-activation (GELU's input)
};

}  // namespace cscrub::engine
