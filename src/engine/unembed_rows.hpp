// The tied unembedding of already-normalised rows (ln_f applied), shared by the forward pass and the
// scrubber's components so both compute logits the same way.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "cscrub/engine/forward.hpp"

#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"
#include "gemm.hpp"

namespace cscrub::engine {

// normalized: [rows, d_model] -> logits [rows, |token_ids|], or [rows, vocab] when token_ids is empty.
// `logits` is resized only when its shape differs, so a caller that keeps it keeps its memory.
void unembed_rows(const Weights& weights, const RowMatrix& normalized, std::span<const int32_t> token_ids,
                  RowMatrix& logits, gemm::PackingBuffers* buffers = nullptr);

// The rows of a [batch * positions] activation whose logits `request` asks for, in output order. Throws
// cscrub::Error for per_row positions that do not fit the batch.
std::vector<int> requested_rows(const TokenBatch& tokens, const LogitRequest& request);

}  // namespace cscrub::engine
