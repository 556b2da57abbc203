// The batched GPT-2 forward pass (Hugging Face semantics: pre-LN blocks, GELU-tanh, tied unembedding).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "cscrub/engine/hooks.hpp"
#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

// `batch` sequences of `positions` tokens, row-major [batch, pos]. Sequences of different lengths are
// right-padded: causal attention means padding never changes the real tokens' activations.
struct TokenBatch {
  std::span<const int32_t> tokens;
  int batch = 0;
  int positions = 0;
};

// Which logits to compute; the unembedding is the largest product of the forward pass, so callers ask
// for only what they need.
struct LogitRequest {
  enum class Positions { all, last, per_row, none };
  Positions positions = Positions::all;
  std::vector<int> row_positions;  // per_row: the position to read in each sequence (size batch)
  std::vector<int32_t> token_ids;  // empty: the whole vocabulary; otherwise only these columns
};

// Result rows: for `all`, batch * pos rows (row b * pos + p); for `last` and `per_row`, one row per
// sequence; columns: the vocabulary, or the requested token ids in order.
RowMatrix forward(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request,
                  Interventions* interventions = nullptr);

// Throws cscrub::Error for token ids outside the vocabulary or sequences longer than n_ctx.
void check_tokens(const ModelConfig& config, const TokenBatch& tokens);

// Floating-point work of one forward (for benchmarks): multiply-adds counted as 2 FLOPs.
double forward_flops(const ModelConfig& config, int batch, int positions, int logit_rows, int logit_columns);

}  // namespace cscrub::engine
