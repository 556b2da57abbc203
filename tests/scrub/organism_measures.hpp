// Measures of the model organisms' behaviour with cscrub's engine on cscrub's datasets: logit differences at
// the answer position, next-token losses over repeated sequences, and mean attention between named positions.
#pragma once
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/io/model_dir.hpp"
#include "test_paths.hpp"

namespace cscrub::test {

inline std::filesystem::path organism_dir(const std::string& name) { return source_dir() / "models" / name; }

// The organism's weights, loaded once per test binary.
inline const engine::Weights& organism_weights(const std::string& name) {
  static std::map<std::string, engine::Weights> loaded;
  auto found = loaded.find(name);
  if (found == loaded.end()) {
    const auto dir = organism_dir(name);
    if (!std::filesystem::exists(dir / "model.safetensors"))
      FAIL((dir / "model.safetensors").string() << " is missing: its model card (README.md there) says how to train it");
    found = loaded.emplace(name, io::load_weights(dir)).first;
  }
  return found->second;
}

struct MeanAndError {
  double mean = 0, standard_error = 0;
};
inline MeanAndError mean_and_error(const std::vector<double>& values) {
  MeanAndError result;
  for (double v : values) result.mean += v;
  result.mean /= static_cast<double>(values.size());
  double variance = 0;
  for (double v : values) variance += (v - result.mean) * (v - result.mean);
  variance /= static_cast<double>(values.size() - 1);
  result.standard_error = std::sqrt(variance / static_cast<double>(values.size()));
  return result;
}

// The examples' indices grouped by alignment group (one length, one set of positions per group).
inline std::vector<std::vector<size_t>> alignment_groups(const data::Dataset& dataset) {
  std::map<std::string, std::vector<size_t>> groups;
  for (size_t i = 0; i < dataset.examples.size(); ++i) groups[dataset.examples[i].group].push_back(i);
  std::vector<std::vector<size_t>> result;
  for (auto& [group, members] : groups) result.push_back(std::move(members));
  return result;
}

inline std::vector<int32_t> concatenated_tokens(const data::Dataset& dataset, const std::vector<size_t>& members) {
  std::vector<int32_t> tokens;
  for (size_t i : members) {
    const auto& example = dataset.examples[i].tokens;
    tokens.insert(tokens.end(), example.begin(), example.end());
  }
  return tokens;
}

// logit(answer) - logit(distractor) at each example's last position, in dataset order.
inline std::vector<double> logit_differences(const engine::Weights& weights, const data::Dataset& dataset) {
  std::vector<double> differences(dataset.examples.size());
  for (const auto& members : alignment_groups(dataset)) {
    const int positions = static_cast<int>(dataset.examples[members.front()].tokens.size());
    const auto tokens = concatenated_tokens(dataset, members);
    engine::LogitRequest last;
    last.positions = engine::LogitRequest::Positions::last;
    const engine::RowMatrix logits =
        engine::forward(weights, {tokens, static_cast<int>(members.size()), positions}, last);
    for (size_t b = 0; b < members.size(); ++b) {
      const auto& example = dataset.examples[members[b]];
      const auto row = static_cast<Eigen::Index>(b);
      differences[members[b]] = logits(row, example.answer) - logits(row, example.distractor);
    }
  }
  return differences;
}

// Next-token losses (full vocabulary) over an induction example extended by its answer: the first copy's
// predictable targets (tokens 1..L-1) and the repeat's (tokens L+1.., the repeat's first token following
// nothing seen before). Every example must be a whole repeat (option repeat = length - 1).
struct HalfLosses {
  std::vector<double> first, repeated;
};
inline HalfLosses repeated_sequence_losses(const engine::Weights& weights, const data::Dataset& dataset) {
  HalfLosses losses;
  for (const auto& members : alignment_groups(dataset)) {
    std::vector<int32_t> tokens;
    for (size_t i : members) {
      tokens.insert(tokens.end(), dataset.examples[i].tokens.begin(), dataset.examples[i].tokens.end());
      tokens.push_back(dataset.examples[i].answer);
    }
    const int positions = static_cast<int>(dataset.examples[members.front()].tokens.size()) + 1;
    const int length = positions / 2;
    REQUIRE(positions == 2 * length);
    const engine::RowMatrix logits =
        engine::forward(weights, {tokens, static_cast<int>(members.size()), positions}, engine::LogitRequest{});
    for (size_t b = 0; b < members.size(); ++b) {
      for (int p = 0; p + 1 < positions; ++p) {
        if (p == length - 1) continue;
        const auto row = logits.row(static_cast<Eigen::Index>(b * static_cast<size_t>(positions) + p));
        const float max = row.maxCoeff();
        const double log_sum = max + std::log((row.array() - max).exp().sum());
        const double loss = log_sum - row(tokens[b * static_cast<size_t>(positions) + static_cast<size_t>(p) + 1]);
        (p < length ? losses.first : losses.repeated).push_back(loss);
      }
    }
  }
  return losses;
}

// A query position and a key position of an example (e.g. END and IO).
using PositionPair = std::function<std::pair<int, int>(const data::Example&)>;

// The head's attention from the query to the key position of each example, averaged over the dataset.
inline double mean_attention(const engine::Weights& weights, const data::Dataset& dataset, int layer, int head,
                             const PositionPair& pair) {
  const engine::HookPoint hook{engine::Site::attn_pattern, layer};
  const int heads = weights.config.n_head;
  double sum = 0;
  for (const auto& members : alignment_groups(dataset)) {
    const int positions = static_cast<int>(dataset.examples[members.front()].tokens.size());
    const auto tokens = concatenated_tokens(dataset, members);
    engine::ActivationCache cache({hook});
    engine::LogitRequest none;
    none.positions = engine::LogitRequest::Positions::none;
    engine::forward(weights, {tokens, static_cast<int>(members.size()), positions}, none, &cache);
    const auto& pattern = cache.at(hook).values;  // [batch, head, query, key]
    for (size_t b = 0; b < members.size(); ++b) {
      const auto [query, key] = pair(dataset.examples[members[b]]);
      REQUIRE(key <= query);
      const size_t offset = ((b * static_cast<size_t>(heads) + static_cast<size_t>(head)) * static_cast<size_t>(positions) +
                             static_cast<size_t>(query)) * static_cast<size_t>(positions);
      sum += pattern[offset + static_cast<size_t>(key)];
    }
  }
  return sum / static_cast<double>(dataset.examples.size());
}

}  // namespace cscrub::test
