// The tied unembedding of already-normalised rows (ln_f applied), shared by the forward pass and the
// scrubber's components so both compute logits the same way.
#pragma once
#include <cstdint>
#include <span>

#include "cscrub/engine/tensor.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::engine {

// normalized: [padded_rows(real_rows), d_model] -> logits [real_rows, |token_ids| or vocab].
RowMatrix unembed_rows(const Weights& weights, const RowMatrix& normalized, int real_rows,
                       std::span<const int32_t> token_ids);

}  // namespace cscrub::engine
