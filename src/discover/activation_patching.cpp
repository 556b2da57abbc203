#include "cscrub/discover/activation_patching.hpp"

#include <numeric>

#include "cell_runs.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {

std::string to_string(Direction direction) { return direction == Direction::denoise ? "denoise" : "noise"; }

Direction parse_direction(const std::string& text) {
  if (text == "denoise") return Direction::denoise;
  if (text == "noise") return Direction::noise;
  throw Error("unknown patching direction '" + text + "'",
              "denoise: corrupted run, clean activations patched in; noise: clean run, corrupted activations patched in");
}

Sweep activation_patching(const engine::Weights& weights, const PairedDataset& pairs, const TargetGrid& targets,
                          Direction direction, int batch_size, const Progress& progress) {
  check_pairs(pairs);
  const std::vector<Batch> batches = make_batches(pairs.clean, batch_size);
  double clean_sum = 0, corrupted_sum = 0;
  // Per batch: both unmodified runs, recording what the cells need; the base run's tokens are patched with
  // the other run's activations.
  const detail::PrepareBatch prepare = [&](const Batch& batch, const std::set<engine::HookPoint>& hooks) {
    const std::vector<int32_t> clean_tokens = batch_tokens(pairs.clean, batch);
    const std::vector<int32_t> corrupted_tokens = batch_tokens(pairs.corrupted, batch);
    detail::RecordedRun clean = detail::run_and_record(weights, pairs.clean, batch, clean_tokens, hooks);
    detail::RecordedRun corrupted = detail::run_and_record(weights, pairs.clean, batch, corrupted_tokens, hooks);
    clean_sum += std::accumulate(clean.logit_diffs.begin(), clean.logit_diffs.end(), 0.0);
    corrupted_sum += std::accumulate(corrupted.logit_diffs.begin(), corrupted.logit_diffs.end(), 0.0);
    if (direction == Direction::denoise) return detail::BatchSource{corrupted_tokens, std::move(clean.activations)};
    return detail::BatchSource{clean_tokens, std::move(corrupted.activations)};
  };
  const auto values = detail::run_cells(weights, pairs.clean, batches, targets.cells, prepare, progress);

  Sweep sweep;
  sweep.prompts = static_cast<int>(pairs.clean.examples.size());
  sweep.clean = clean_sum / sweep.prompts;
  sweep.corrupted = corrupted_sum / sweep.prompts;
  sweep.base = direction == Direction::denoise ? sweep.corrupted : sweep.clean;
  sweep.patched = targets.layout;
  sweep.patched.values = detail::cell_means(values);
  sweep.description = direction == Direction::denoise
                          ? "denoising: corrupted run (" + pairs.corruption + "), each cell's activation from the clean run"
                          : "noising: clean run, each cell's activation from the corrupted run (" + pairs.corruption + ")";
  return sweep;
}

}  // namespace cscrub::discover
