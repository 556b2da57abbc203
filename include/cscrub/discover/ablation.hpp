// Ablations: replace part of an activation by zero, by its mean over a reference distribution (per alignment
// group, so per template), or by its value on another prompt of the same group (resampling, seeded).
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

enum class Ablation { zero, mean, resample };
std::string to_string(Ablation ablation);
// "zero", "mean" or "resample"; throws cscrub::Error otherwise.
Ablation parse_ablation(const std::string& text);

// The logit difference of every prompt of `dataset` with all `targets` ablated together. Means and resampled
// prompts come from `reference` (which may be `dataset` itself): the mean over the reference prompts of the
// prompt's alignment group; a resampled prompt is drawn uniformly among the reference prompts of the group
// whose tokens differ from the prompt's, by a draw that depends only on `seed` and the prompt's index (not on
// batching). Throws cscrub::Error when the reference has no (other) prompt of a group that needs one.
std::vector<double> ablated_logit_diffs(const engine::Weights& weights, const data::Dataset& dataset,
                                        const data::Dataset& reference, std::span<const Target> targets,
                                        Ablation ablation, uint64_t seed, int batch_size);

// Every cell of `targets` ablated in its own run of the clean prompts, the corrupted prompts serving as the
// reference distribution (IOI: p_ABC, as in the IOI paper's mean ablations).
Sweep ablation_sweep(const engine::Weights& weights, const PairedDataset& pairs, const TargetGrid& targets,
                     Ablation ablation, uint64_t seed, int batch_size, const Progress& progress = {});

}  // namespace cscrub::discover
