#include "cscrub/discover/batches.hpp"

#include <algorithm>
#include <cassert>
#include <map>

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/logit_metrics.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::discover {

std::vector<Batch> make_batches(const data::Dataset& dataset, int max_batch) {
  assert(max_batch > 0);
  std::vector<std::string> order;  // groups in order of first appearance
  std::map<std::string, std::vector<int>> members;
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    const data::Example& example = dataset.examples[i];
    auto& list = members[example.group];
    if (list.empty()) order.push_back(example.group);
    const data::Example& first = dataset.examples[static_cast<size_t>(list.empty() ? i : list.front())];
    if (first.tokens.size() != example.tokens.size() || first.positions != example.positions)
      throw Error("prompts " + std::to_string(list.front()) + " and " + std::to_string(i) + " share alignment group '" +
                  example.group + "' but differ in length or named positions");
    list.push_back(static_cast<int>(i));
  }
  std::vector<Batch> batches;
  for (const std::string& group : order) {
    const std::vector<int>& list = members[group];
    for (size_t start = 0; start < list.size(); start += static_cast<size_t>(max_batch)) {
      Batch batch;
      batch.examples.assign(list.begin() + static_cast<std::ptrdiff_t>(start),
                            list.begin() + static_cast<std::ptrdiff_t>(std::min(list.size(), start + max_batch)));
      const data::Example& first = dataset.examples[static_cast<size_t>(batch.examples.front())];
      batch.positions = static_cast<int>(first.tokens.size());
      batch.named_positions = first.positions;
      batches.push_back(std::move(batch));
    }
  }
  return batches;
}

std::vector<int32_t> batch_tokens(const data::Dataset& dataset, const Batch& batch) {
  std::vector<int32_t> tokens;
  tokens.reserve(batch.examples.size() * static_cast<size_t>(batch.positions));
  for (int index : batch.examples) {
    const auto& example_tokens = dataset.examples[static_cast<size_t>(index)].tokens;
    assert(static_cast<int>(example_tokens.size()) == batch.positions);
    tokens.insert(tokens.end(), example_tokens.begin(), example_tokens.end());
  }
  return tokens;
}

std::optional<int> resolve_position(const data::TaskSchema& schema, const Batch& batch, const std::string& label) {
  if (label.empty()) return std::nullopt;
  const std::optional<int> index = schema.position_index(label);
  if (!index) {
    std::string known;
    for (const std::string& name : schema.positions) known += (known.empty() ? "" : ", ") + name;
    throw Error("the " + schema.task + " task has no position '" + label + "'" + did_you_mean(label, schema.positions),
                "its positions: " + known);
  }
  return batch.named_positions[static_cast<size_t>(*index)];
}

std::vector<double> logit_diffs(const engine::Weights& weights, const data::Dataset& labels, const Batch& batch,
                                std::span<const int32_t> tokens, engine::Interventions* interventions) {
  // Only the columns of the batch's answers and distractors are computed.
  std::vector<int32_t> columns;
  for (int index : batch.examples) {
    const data::Example& example = labels.examples[static_cast<size_t>(index)];
    columns.push_back(example.answer);
    columns.push_back(example.distractor);
  }
  std::sort(columns.begin(), columns.end());
  columns.erase(std::unique(columns.begin(), columns.end()), columns.end());
  auto column_of = [&](int32_t id) {
    return static_cast<int>(std::lower_bound(columns.begin(), columns.end(), id) - columns.begin());
  };

  const int batch_size = static_cast<int>(batch.examples.size());
  const engine::TokenBatch token_batch{.tokens = tokens, .batch = batch_size, .positions = batch.positions};
  engine::LogitRequest request;
  request.positions = engine::LogitRequest::Positions::last;
  request.token_ids = columns;
  const engine::RowMatrix logits = engine::forward(weights, token_batch, request, interventions);

  std::vector<double> diffs(static_cast<size_t>(batch_size));
  for (int b = 0; b < batch_size; ++b) {
    const data::Example& example = labels.examples[static_cast<size_t>(batch.examples[static_cast<size_t>(b)])];
    diffs[static_cast<size_t>(b)] = engine::logit_metrics::logit_difference(
        {logits.row(b).data(), static_cast<size_t>(logits.cols())}, column_of(example.answer), column_of(example.distractor));
  }
  return diffs;
}

}  // namespace cscrub::discover
