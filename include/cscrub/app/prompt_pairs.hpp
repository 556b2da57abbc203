// The prompt pairs a command or a Python call chooses, for `discover` and `patch` alike: a pair file, a dataset
// file's prompts paired within their alignment groups, or a task's generated pairs.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::app {

struct PromptPairChoice {
  std::string pairs;    // a pair file, instead of generated prompts
  std::string dataset;  // a dataset file, instead of generated prompts
  std::string task = "ioi";
  int n = 200;
  bool n_given = false;  // with a dataset: only its first n prompts
  uint64_t seed = 0;
  std::vector<std::string> task_options;
};

// A dataset file's prompts (its first `first` when given), checked against the tokenizer and the model.
// Throws cscrub::Error naming the file.
data::Dataset read_prompt_dataset(const std::string& path, std::optional<int> first, const io::Tokenizer& tokenizer,
                                  const engine::ModelConfig& config);

// The pairs `choice` names, checked. `tokenizer` may be null (a model that runs on token ids alone): then only
// a pair file of token ids can be read, and anything else throws cscrub::Error naming `model_dir`.
discover::PairedDataset load_prompt_pairs(const PromptPairChoice& choice, const std::string& model_dir,
                                          const engine::ModelConfig& config, const io::Tokenizer* tokenizer);

// What the prompts are, for output: "200 ioi (seed 0)", "32 pairs from FILE" or "24 prompts of FILE".
std::string describe_prompt_pairs(const PromptPairChoice& choice, size_t count);

}  // namespace cscrub::app
