// Progress of work in named stages ("patching", "attributing", ...), as the CLI's progress bar and the Python
// module's progress callbacks take it.
#pragma once
#include <functional>
#include <string>

#include "cscrub/discover/batches.hpp"

namespace cscrub::app {

using StagedProgress = std::function<void(const std::string& stage, int done, int total)>;

// The discover::Progress of one stage of `progress` (which must outlive it); none when `progress` is empty.
inline discover::Progress progress_of_stage(const StagedProgress& progress, std::string stage) {
  if (!progress) return {};
  return [&progress, stage = std::move(stage)](int done, int total) { progress(stage, done, total); };
}

}  // namespace cscrub::app
