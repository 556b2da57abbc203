// What `cscrub attribute` and the Python module's attribute() share: their options and their check, direct logit
// attribution (per head, MLP, bias and embedding) on a task's or a dataset's prompts, and its result as the JSON
// `cscrub attribute --json` writes (the same bytes from both).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/app/staged_progress.hpp"
#include "cscrub/discover/attribution.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::app {

struct AttributionOptions {
  std::string model;
  std::string matmul = "auto";  // see matmul_kernel_for
  PromptPairChoice prompts;     // a dataset file or a task's prompts: attribution needs no pairs
  int batch_size = 64;
  int top = 10;  // how many of the strongest heads the result lists
};

// Throws cscrub::Error (the CLI's messages) for bad options, before anything is loaded.
void check_attribution_options(const AttributionOptions& options);

struct AttributionRun {
  std::string model_dir;  // as given
  engine::ModelConfig config;
  std::string prompts;  // "40 ioi (seed 0)" or "24 prompts of FILE"
  std::string metric;   // in words: "logit(IO) − logit(S)"
  int top = 10;
  discover::Attribution attribution;

  // What the per-head grid holds, in words.
  std::string meaning() const;
};

// Loads the model and the prompts and attributes (progress stage "attributing"). Throws cscrub::Error for bad
// options, unreadable inputs or a non-finite metric.
AttributionRun run_attribution(const AttributionOptions& options, const StagedProgress& progress = {});

// The result `cscrub attribute --json` writes.
nlohmann::ordered_json attribution_json(const AttributionRun& run);

}  // namespace cscrub::app
