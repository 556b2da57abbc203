#include "unembed_rows.hpp"

#include "cscrub/engine/huge_pages.hpp"
#include "ops.hpp"
#include "ordered_sum.hpp"

namespace cscrub::engine {

void unembed_rows(const Weights& weights, const RowMatrix& normalized, std::span<const int32_t> token_ids,
                  RowMatrix& logits, gemm::PackingBuffers* buffers) {
  const auto rows = normalized.rows();
  if (!token_ids.empty()) {
    // A few columns: one dot product each, no need for the whole vocabulary; summed in a fixed order so that
    // a row's logits do not depend on where it lies in the batch.
    const int width = static_cast<int>(normalized.cols());
    logits.resize(rows, static_cast<Eigen::Index>(token_ids.size()));
    for (Eigen::Index r = 0; r < rows; ++r) {
      const float* row = normalized.row(r).data();
      for (size_t j = 0; j < token_ids.size(); ++j) {
        const float* embedding = weights.unembedding_rows().row(token_ids[j]).data();
        logits(r, static_cast<Eigen::Index>(j)) =
            ordered_sum(width, [row, embedding](int k) { return row[k] * embedding[k]; });
      }
    }
    return;
  }
  const auto vocab = weights.unembedding_rows().rows();
  if (logits.rows() != rows || logits.cols() != vocab) {
    logits.resize(0, 0);  // the old buffer goes before the new one comes
    logits.resize(rows, vocab);
    advise_huge_pages(logits);
  }
  ops::linear_transposed(weights.matmul, normalized, weights.unembedding_rows(), logits, buffers);
}

}  // namespace cscrub::engine
