// What `cscrub patch` and the Python module's patch() share: their options, the check of how they combine, the
// sweep (activation patching per head, layer or position, an ablation, or path patching) over prompt pairs, and
// its result as the JSON `cscrub patch --json` writes (the same bytes from both).
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/app/staged_progress.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::app {

struct PatchingOptions {
  std::string model;
  std::string matmul = "auto";  // see matmul_kernel_for
  PromptPairChoice prompts;  // its seed is also the resample ablation's
  int batch_size = 64;
  std::string kind = "head";         // head, layer, position or path
  std::string site;                  // default depends on the kind
  std::string position;              // "" = every position
  std::string receivers;             // path only; default "logits"
  std::string direction;             // default denoise
  std::string ablation;              // zero|mean|resample instead of patching
  std::string value = "normalized";  // what the table ranks by (and the CLI's .npy and SVG hold): or change
  int top = 10;                      // how many of the strongest cells the result lists
};

// Throws cscrub::Error (the CLI's messages) for bad prompt options or options that do not go together, before
// anything is loaded.
void check_patching_options(const PatchingOptions& options);

struct PatchingRun {
  std::string model_dir;  // as given
  engine::ModelConfig config;
  std::string prompts;     // "40 ioi (seed 0)", "2 pairs from FILE", ...
  std::string corruption;  // how the corrupted prompts were made
  std::string metric;      // in words: "logit(IO) − logit(S)"
  std::string title;       // what was run, for the table header and the picture
  std::string formula;     // what the normalized value is
  bool denoising = false;
  bool normalized = true;  // ranked by the normalized effect, else by the change
  bool path = false;
  int top = 10;
  discover::Sweep sweep;

  // The grid ranked (and written by the CLI): normalized or change.
  discover::Grid shown() const { return normalized ? sweep.normalized() : sweep.change(); }
  std::string base() const { return denoising ? "corrupted" : "clean"; }
  // What a NaN cell means; empty when there are none.
  std::string null_means() const;
  std::string change_meaning() const;
  std::string normalized_meaning() const;
};

// Loads the model and the pairs and runs the sweep. Throws cscrub::Error for bad options, unreadable inputs or a
// non-finite metric on the clean or corrupted prompts.
PatchingRun run_patching(const PatchingOptions& options, const StagedProgress& progress = {});

// The result `cscrub patch --json` writes.
nlohmann::ordered_json patching_json(const PatchingRun& run);

}  // namespace cscrub::app
