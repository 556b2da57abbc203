// What activation patching and ablation share: running every cell of a target grid on every batch, each
// cell's targets overwritten from per-batch source activations.
#pragma once
#include <functional>
#include <map>
#include <set>
#include <span>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover::detail {

using ActivationMap = std::map<engine::HookPoint, engine::StoredActivation>;

// The hook points any of `cells` writes.
std::set<engine::HookPoint> hooks_of(std::span<const std::vector<Target>> cells);

// A forward of `tokens` (shaped like `batch`) that also records `hooks`.
struct RecordedRun {
  std::vector<double> logit_diffs;  // per prompt of the batch (labels: the clean dataset)
  ActivationMap activations;
};
RecordedRun run_and_record(const engine::Weights& weights, const data::Dataset& labels, const Batch& batch,
                           std::span<const int32_t> tokens, const std::set<engine::HookPoint>& hooks);

// Overwrites `targets` with the same parts of `source` (zeros when `source` is null), named positions resolved
// for `batch`. The patcher keeps pointers into `source`.
engine::ActivationPatcher patcher_for(std::span<const Target> targets, const data::TaskSchema& schema,
                                      const Batch& batch, const ActivationMap* source);

// One batch's run to intervene on and the values its targets take.
struct BatchSource {
  std::vector<int32_t> tokens;
  ActivationMap activations;
  bool zeros = false;  // overwrite with zeros instead of `activations`
};
using PrepareBatch = std::function<BatchSource(const Batch& batch, const std::set<engine::HookPoint>& hooks)>;

// The logit difference of every prompt with each cell's targets overwritten: [cell][prompt index in `labels`].
// `prepare` is called once per batch, before the batch's cells run. Progress counts cell runs.
std::vector<std::vector<double>> run_cells(const engine::Weights& weights, const data::Dataset& labels,
                                           std::span<const Batch> batches, std::span<const std::vector<Target>> cells,
                                           const PrepareBatch& prepare, const Progress& progress);

// Mean over prompts of each cell's values.
std::vector<double> cell_means(const std::vector<std::vector<double>>& per_prompt);

}  // namespace cscrub::discover::detail
