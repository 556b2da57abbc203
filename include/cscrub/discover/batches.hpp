// Running a dataset through the model in batches the engine accepts ([batch, pos] of equal length): prompts
// of one alignment group share their length and named positions, so a batch never mixes groups, and a named
// position ("S2", "END") is one index for the whole batch.
#pragma once
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/hooks.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

// Called as work completes: `done` of `total` units (forward passes, usually).
using Progress = std::function<void(int done, int total)>;

struct Batch {
  std::vector<int> examples;       // dataset indices, all of one alignment group, in dataset order
  int positions = 0;               // their common length
  std::vector<int> named_positions;  // their common named positions (one per schema position)
};

// Batches of at most `max_batch` prompts, group by group in order of first appearance. Throws cscrub::Error
// if a group mixes lengths or named positions.
std::vector<Batch> make_batches(const data::Dataset& dataset, int max_batch);

// The batch's token ids, [batch, pos] row-major.
std::vector<int32_t> batch_tokens(const data::Dataset& dataset, const Batch& batch);

// The index of a named position in a batch: nullopt (every position) when `label` is empty. Throws
// cscrub::Error naming the schema's positions for an unknown label.
std::optional<int> resolve_position(const data::TaskSchema& schema, const Batch& batch, const std::string& label);

// logit(answer) - logit(distractor) at the last position of every prompt of `batch`, running `tokens` (the
// batch's own tokens, or its counterparts' of the same shape) with `interventions`. Answers and distractors
// are those of `labels` (the clean dataset).
std::vector<double> logit_diffs(const engine::Weights& weights, const data::Dataset& labels, const Batch& batch,
                                std::span<const int32_t> tokens, engine::Interventions* interventions = nullptr);

}  // namespace cscrub::discover
