#include "unembed_rows.hpp"

#include "huge_pages.hpp"
#include "ops.hpp"

namespace cscrub::engine {

void unembed_rows(const Weights& weights, const RowMatrix& normalized, std::span<const int32_t> token_ids,
                  RowMatrix& logits, gemm::PackingBuffers* buffers) {
  const auto rows = normalized.rows();
  if (!token_ids.empty()) {
    // A few columns: one dot product each, no need for the whole vocabulary.
    logits.resize(rows, static_cast<Eigen::Index>(token_ids.size()));
    for (Eigen::Index r = 0; r < rows; ++r)
      for (size_t j = 0; j < token_ids.size(); ++j)
        logits(r, static_cast<Eigen::Index>(j)) = normalized.row(r).dot(weights.token_embedding.row(token_ids[j]));
    return;
  }
  const auto vocab = weights.token_embedding.rows();
  if (logits.rows() != rows || logits.cols() != vocab) {
    logits.resize(0, 0);  // the old buffer goes before the new one comes
    logits.resize(rows, vocab);
    advise_huge_pages(logits);
  }
  ops::linear_transposed(normalized, weights.token_embedding, logits, buffers);
}

}  // namespace cscrub::engine
