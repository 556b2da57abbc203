#include "cell_runs.hpp"

#include <numeric>

namespace cscrub::discover::detail {

std::set<engine::HookPoint> hooks_of(std::span<const std::vector<Target>> cells) {
  std::set<engine::HookPoint> hooks;
  for (const auto& cell : cells)
    for (const Target& target : cell) hooks.insert(target.hook);
  return hooks;
}

RecordedRun run_and_record(const engine::Weights& weights, const data::Dataset& labels, const Batch& batch,
                           std::span<const int32_t> tokens, const std::set<engine::HookPoint>& hooks) {
  engine::ActivationCache cache(hooks);
  RecordedRun run;
  run.logit_diffs = logit_diffs(weights, labels, batch, tokens, &cache);
  run.activations = cache.all();
  return run;
}

engine::ActivationPatcher patcher_for(std::span<const Target> targets, const data::TaskSchema& schema,
                                      const Batch& batch, const ActivationMap* source) {
  engine::ActivationPatcher patcher;
  for (const Target& target : targets) {
    engine::Patch patch{.hook = target.hook, .head = target.head,
                        .position = resolve_position(schema, batch, target.position), .source = nullptr, .fill = 0.0f};
    if (source != nullptr) patch.source = &source->at(target.hook);
    patcher.add(patch);
  }
  return patcher;
}

std::vector<std::vector<double>> run_cells(const engine::Weights& weights, const data::Dataset& labels,
                                           std::span<const Batch> batches, std::span<const std::vector<Target>> cells,
                                           const PrepareBatch& prepare, const Progress& progress) {
  // A misspelt position fails here, before any forward pass.
  for (const auto& cell : cells)
    for (const Target& target : cell)
      if (!batches.empty()) resolve_position(labels.schema, batches.front(), target.position);
  const std::set<engine::HookPoint> hooks = hooks_of(cells);
  std::vector<std::vector<double>> values(cells.size(), std::vector<double>(labels.examples.size()));
  const int total = static_cast<int>(batches.size() * cells.size());
  int done = 0;
  for (const Batch& batch : batches) {
    const BatchSource source = prepare(batch, hooks);
    for (size_t c = 0; c < cells.size(); ++c) {
      engine::ActivationPatcher patcher =
          patcher_for(cells[c], labels.schema, batch, source.zeros ? nullptr : &source.activations);
      const std::vector<double> diffs = logit_diffs(weights, labels, batch, source.tokens, &patcher);
      for (size_t b = 0; b < diffs.size(); ++b) values[c][static_cast<size_t>(batch.examples[b])] = diffs[b];
      if (progress) progress(++done, total);
    }
  }
  return values;
}

std::vector<double> cell_means(const std::vector<std::vector<double>>& per_prompt) {
  std::vector<double> means;
  for (const auto& values : per_prompt)
    means.push_back(std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size()));
  return means;
}

}  // namespace cscrub::discover::detail
