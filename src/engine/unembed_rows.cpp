#include "unembed_rows.hpp"

#include "ops.hpp"

namespace cscrub::engine {

RowMatrix unembed_rows(const Weights& weights, const RowMatrix& normalized, int real_rows,
                       std::span<const int32_t> token_ids) {
  if (!token_ids.empty()) {
    // A few columns: one dot product each, no need for the whole vocabulary.
    RowMatrix logits(real_rows, static_cast<Eigen::Index>(token_ids.size()));
    for (int r = 0; r < real_rows; ++r)
      for (size_t j = 0; j < token_ids.size(); ++j)
        logits(r, static_cast<Eigen::Index>(j)) = normalized.row(r).dot(weights.token_embedding.row(token_ids[j]));
    return logits;
  }
  const auto vocab = weights.token_embedding.rows();
  RowMatrix logits(real_rows, vocab);
  // Whole aligned blocks straight into the result; the last partial block through a padded buffer, so
  // every row goes through the same kernel path (see ops.hpp).
  const int aligned = real_rows / ops::kRowAlignment * ops::kRowAlignment;
  if (aligned > 0)
    ops::linear_transposed(normalized.topRows(aligned), weights.token_embedding, logits.topRows(aligned));
  if (aligned < real_rows) {
    RowMatrix tail_logits(ops::kRowAlignment, vocab);
    ops::linear_transposed(normalized.middleRows(aligned, ops::kRowAlignment), weights.token_embedding, tail_logits);
    logits.bottomRows(real_rows - aligned) = tail_logits.topRows(real_rows - aligned);
  }
  return logits;
}

}  // namespace cscrub::engine
