#include "unembed_rows.hpp"

#include "cscrub/engine/huge_pages.hpp"
#include "cscrub/error.hpp"
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

std::vector<int> requested_rows(const TokenBatch& tokens, const LogitRequest& request) {
  std::vector<int> rows;
  switch (request.positions) {
    case LogitRequest::Positions::none: break;
    case LogitRequest::Positions::all:
      for (int r = 0; r < tokens.batch * tokens.positions; ++r) rows.push_back(r);
      break;
    case LogitRequest::Positions::last:
      for (int b = 0; b < tokens.batch; ++b) rows.push_back(b * tokens.positions + tokens.positions - 1);
      break;
    case LogitRequest::Positions::per_row:
      if (static_cast<int>(request.row_positions.size()) != tokens.batch)
        throw Error("logit request: " + std::to_string(request.row_positions.size()) + " positions for " +
                    std::to_string(tokens.batch) + " sequences");
      for (int b = 0; b < tokens.batch; ++b) {
        const int p = request.row_positions[b];
        if (p < 0 || p >= tokens.positions)
          throw Error("logit request: position " + std::to_string(p) + " outside the sequence of " +
                      std::to_string(tokens.positions) + " tokens");
        rows.push_back(b * tokens.positions + p);
      }
      break;
  }
  return rows;
}

}  // namespace cscrub::engine
