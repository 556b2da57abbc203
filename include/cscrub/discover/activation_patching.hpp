// Activation patching: run one side of each clean/corrupted pair with part of an activation taken from the
// other side's run, one grid cell at a time.
#pragma once
#include <string>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/discover/targets.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::discover {

enum class Direction {
  denoise,  // the corrupted run, the cell's activations taken from the clean run (does it restore?)
  noise,    // the clean run, the cell's activations taken from the corrupted run (does it break?)
};
std::string to_string(Direction direction);
// "denoise" or "noise"; throws cscrub::Error otherwise.
Direction parse_direction(const std::string& text);

// Every cell of `targets` patched in its own run; batches of at most `batch_size` prompts (results do not
// depend on it). Progress counts forward passes.
Sweep activation_patching(const engine::Weights& weights, const PairedDataset& pairs, const TargetGrid& targets,
                          Direction direction, int batch_size, const Progress& progress = {});

}  // namespace cscrub::discover
