// The batched GPT-2 forward pass (Hugging Face semantics: pre-LN blocks, GELU-tanh, tied unembedding).
#pragma once
#include <cstdint>
#include <memory>
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

struct ForwardWorkspace;

// The buffers of forward passes, for a caller that runs many (`cscrub forward --repeat`, benchmarks, batch
// loops): fresh ones are faulted in page by page at every pass, which cost ~8% of a GPT-2-small forward
// over 64 x 16 tokens on a 2-core virtual machine. Holds the last batch's buffers (rows x (8 d_model +
// d_mlp) floats and the products' packing) until destroyed or reused for another batch shape. One scratch
// serves one forward at a time: threads running forwards concurrently each keep their own.
class ForwardScratch {
 public:
  ForwardScratch();
  ~ForwardScratch();
  ForwardScratch(ForwardScratch&&) noexcept;
  ForwardScratch& operator=(ForwardScratch&&) noexcept;

  // Buffers for `rows` rows of this model, reused when the shape is the one served last.
  ForwardWorkspace& workspace(const ModelConfig& config, MatmulKernel kernel, int rows);

 private:
  std::unique_ptr<ForwardWorkspace> workspace_;
};

// Result rows: for `all`, batch * pos rows (row b * pos + p); for `last` and `per_row`, one row per
// sequence; columns: the vocabulary, or the requested token ids in order. Without interventions, the last
// block finishes only the requested rows (their attention still reads every row's keys and values).
// Works in `scratch` when given, else in buffers of its own.
RowMatrix forward(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request,
                  Interventions* interventions = nullptr, ForwardScratch* scratch = nullptr);
// The same, into `logits`, which is resized only when its shape differs: a caller running many forwards
// keeps the logits' memory too (64 x 16 tokens' full logits are 206 MB, faulted in afresh by every
// `forward`).
void forward_into(const Weights& weights, const TokenBatch& tokens, const LogitRequest& request, RowMatrix& logits,
                  Interventions* interventions = nullptr, ForwardScratch* scratch = nullptr);

// Throws cscrub::Error for token ids outside the vocabulary or sequences longer than n_ctx.
void check_tokens(const ModelConfig& config, const TokenBatch& tokens);

// Floating-point work of one forward (for benchmarks and cost reports): multiply-adds counted as 2 FLOPs,
// every block over every row.
double forward_flops(const ModelConfig& config, int batch, int positions, int logit_rows, int logit_columns);
// The bytes a forward's workspace holds for its products' packing (engine::matmul_packing_bytes), for `rows`
// rows on `threads` threads: what the block products need, beyond what the unembedding may add.
uint64_t forward_packing_bytes(const ModelConfig& config, MatmulKernel kernel, int rows, int threads);
// The part of that work a forward without interventions skips: the last block's queries, attention,
// attention output and MLP for the rows whose logits are not requested.
double skipped_last_block_flops(const ModelConfig& config, int batch, int positions, int logit_rows);

}  // namespace cscrub::engine
