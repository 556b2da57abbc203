#include "cscrub/discover/ablation.hpp"

#include <algorithm>
#include <map>
#include <numeric>

#include "cell_runs.hpp"
#include "cscrub/data/random.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {
namespace {

using detail::ActivationMap;

// A forward of `count` prompts of `positions` tokens that only records `hooks`.
ActivationMap record(const engine::Weights& weights, std::span<const int32_t> tokens, int count, int positions,
                     const std::set<engine::HookPoint>& hooks) {
  engine::ActivationCache cache(hooks);
  engine::LogitRequest none;
  none.positions = engine::LogitRequest::Positions::none;
  engine::forward(weights, {.tokens = tokens, .batch = count, .positions = positions}, none, &cache);
  return cache.all();
}

// Where a batch's ablated values come from: zeros, its group's mean over the reference, or other prompts.
class AblationSources {
 public:
  AblationSources(const engine::Weights& weights, const data::Dataset& dataset, const data::Dataset& reference,
                  Ablation ablation, uint64_t seed, int batch_size)
      : weights_(weights), dataset_(dataset), reference_(reference), ablation_(ablation), seed_(seed),
        batch_size_(batch_size) {
    for (size_t i = 0; i < reference.examples.size(); ++i)
      groups_[reference.examples[i].group].push_back(static_cast<int>(i));
  }

  detail::BatchSource operator()(const Batch& batch, const std::set<engine::HookPoint>& hooks) {
    detail::BatchSource source{.tokens = batch_tokens(dataset_, batch), .activations = {}, .zeros = false};
    switch (ablation_) {
      case Ablation::zero: source.zeros = true; break;
      case Ablation::mean: source.activations = broadcast(group_mean(batch, hooks), static_cast<int>(batch.examples.size())); break;
      case Ablation::resample: source.activations = resampled(batch, hooks); break;
    }
    return source;
  }

 private:
  // The reference prompts of the batch's alignment group, checked to line up with the batch.
  const std::vector<int>& reference_group(const Batch& batch) const {
    const std::string& group = dataset_.examples[static_cast<size_t>(batch.examples.front())].group;
    const auto found = groups_.find(group);
    if (found == groups_.end())
      throw Error(to_string(ablation_) + " ablation: the reference distribution has no prompt of alignment group '" +
                  group + "'", "use a reference dataset with the same templates");
    for (int index : found->second) {
      const data::Example& example = reference_.examples[static_cast<size_t>(index)];
      if (static_cast<int>(example.tokens.size()) != batch.positions || example.positions != batch.named_positions)
        throw Error(to_string(ablation_) + " ablation: reference prompt " + std::to_string(index) +
                    " is in alignment group '" + group + "' but has a different length or named positions");
    }
    return found->second;
  }

  // One prompt's worth ([1, ...]) of the mean over the group's reference prompts; computed once per group.
  const ActivationMap& group_mean(const Batch& batch, const std::set<engine::HookPoint>& hooks) {
    const std::string& group = dataset_.examples[static_cast<size_t>(batch.examples.front())].group;
    if (auto cached = means_.find(group); cached != means_.end()) return cached->second;
    const std::vector<int>& members = reference_group(batch);
    std::map<engine::HookPoint, std::vector<double>> sums;
    for (size_t start = 0; start < members.size(); start += static_cast<size_t>(batch_size_)) {
      const Batch chunk{.examples = std::vector<int>(members.begin() + static_cast<std::ptrdiff_t>(start),
                                                     members.begin() + static_cast<std::ptrdiff_t>(std::min(
                                                                           members.size(), start + batch_size_))),
                        .positions = batch.positions, .named_positions = batch.named_positions};
      const ActivationMap recorded = record(weights_, batch_tokens(reference_, chunk),
                                            static_cast<int>(chunk.examples.size()), batch.positions, hooks);
      for (const auto& [hook, stored] : recorded) {
        const size_t per_prompt = stored.values.size() / chunk.examples.size();
        std::vector<double>& sum = sums[hook];
        sum.resize(per_prompt, 0.0);
        for (size_t i = 0; i < stored.values.size(); ++i) sum[i % per_prompt] += stored.values[i];
      }
    }
    ActivationMap& mean = means_[group];
    for (auto& [hook, sum] : sums) {
      int rank = 0;
      engine::StoredActivation& stored = mean[hook];
      stored.shape = engine::activation_shape(hook.site, weights_.config, 1, batch.positions, &rank);
      stored.rank = rank;
      for (double value : sum) stored.values.push_back(static_cast<float>(value / static_cast<double>(members.size())));
    }
    return mean;
  }

  static ActivationMap broadcast(const ActivationMap& one, int count) {
    ActivationMap many;
    for (const auto& [hook, stored] : one) {
      engine::StoredActivation& out = many[hook];
      out.shape = stored.shape;
      out.shape[0] = count;
      out.rank = stored.rank;
      for (int b = 0; b < count; ++b) out.values.insert(out.values.end(), stored.values.begin(), stored.values.end());
    }
    return many;
  }

  // The activations of a reference prompt drawn for each prompt of the batch.
  ActivationMap resampled(const Batch& batch, const std::set<engine::HookPoint>& hooks) {
    const std::vector<int>& members = reference_group(batch);
    std::vector<int32_t> tokens;
    for (int index : batch.examples) {
      const auto& own = dataset_.examples[static_cast<size_t>(index)].tokens;
      std::vector<int> others;
      for (int member : members)
        if (reference_.examples[static_cast<size_t>(member)].tokens != own) others.push_back(member);
      if (others.empty())
        throw Error("resample ablation: prompt " + std::to_string(index) + " has no other prompt of its alignment group '" +
                        dataset_.examples[static_cast<size_t>(index)].group + "' to draw from",
                    "generate more prompts (--n)");
      // The draw depends on the seed and the prompt only, not on how prompts are batched.
      data::Rng rng(seed_ ^ (0x9e3779b97f4a7c15ULL * (static_cast<uint64_t>(index) + 1)));
      const auto& drawn = reference_.examples[static_cast<size_t>(others[static_cast<size_t>(rng.index(others.size()))])];
      tokens.insert(tokens.end(), drawn.tokens.begin(), drawn.tokens.end());
    }
    return record(weights_, tokens, static_cast<int>(batch.examples.size()), batch.positions, hooks);
  }

  const engine::Weights& weights_;
  const data::Dataset& dataset_;
  const data::Dataset& reference_;
  Ablation ablation_;
  uint64_t seed_;
  int batch_size_;
  std::map<std::string, std::vector<int>> groups_;
  std::map<std::string, ActivationMap> means_;
};

}  // namespace

std::string to_string(Ablation ablation) {
  switch (ablation) {
    case Ablation::zero: return "zero";
    case Ablation::mean: return "mean";
    case Ablation::resample: return "resample";
  }
  return "?";
}

Ablation parse_ablation(const std::string& text) {
  for (Ablation ablation : {Ablation::zero, Ablation::mean, Ablation::resample})
    if (text == to_string(ablation)) return ablation;
  throw Error("unknown ablation '" + text + "'", "zero, mean (per template) or resample (another prompt of the template)");
}

std::vector<double> ablated_logit_diffs(const engine::Weights& weights, const data::Dataset& dataset,
                                        const data::Dataset& reference, std::span<const Target> targets,
                                        Ablation ablation, uint64_t seed, int batch_size) {
  const std::vector<Batch> batches = make_batches(dataset, batch_size);
  AblationSources sources(weights, dataset, reference, ablation, seed, batch_size);
  const std::vector<std::vector<Target>> cells{std::vector<Target>(targets.begin(), targets.end())};
  return detail::run_cells(weights, dataset, batches, cells, std::ref(sources), {}).front();
}

Sweep ablation_sweep(const engine::Weights& weights, const PairedDataset& pairs, const TargetGrid& targets,
                     Ablation ablation, uint64_t seed, int batch_size, const Progress& progress) {
  check_pairs(pairs);
  const std::vector<Batch> batches = make_batches(pairs.clean, batch_size);
  AblationSources sources(weights, pairs.clean, pairs.corrupted, ablation, seed, batch_size);
  double clean_sum = 0, corrupted_sum = 0;
  const detail::PrepareBatch prepare = [&](const Batch& batch, const std::set<engine::HookPoint>& hooks) {
    for (const auto* side : {&pairs.clean, &pairs.corrupted}) {
      const std::vector<double> diffs = logit_diffs(weights, pairs.clean, batch, batch_tokens(*side, batch));
      (side == &pairs.clean ? clean_sum : corrupted_sum) += std::accumulate(diffs.begin(), diffs.end(), 0.0);
    }
    return sources(batch, hooks);
  };
  const auto values = detail::run_cells(weights, pairs.clean, batches, targets.cells, prepare, progress);

  Sweep sweep;
  sweep.prompts = static_cast<int>(pairs.clean.examples.size());
  sweep.clean = clean_sum / sweep.prompts;
  sweep.corrupted = corrupted_sum / sweep.prompts;
  sweep.base = sweep.clean;
  sweep.patched = targets.layout;
  sweep.patched.values = detail::cell_means(values);
  sweep.description = to_string(ablation) + " ablation of the clean run" +
                      (ablation == Ablation::zero ? std::string()
                                                  : " (reference: " + pairs.corruption + ", per alignment group)");
  return sweep;
}

}  // namespace cscrub::discover
