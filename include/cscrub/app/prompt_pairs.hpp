// The prompts a command or a Python call chooses, for `discover`, `faithfulness`, `patch`, `attribute` and
// `attention` alike: a pair file, a dataset file's prompts (paired within their alignment groups where pairs are
// needed), or a task's generated prompts or pairs.
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

// Throws cscrub::Error (the CLI's messages) for an unknown task or a bad n, before anything is loaded.
void check_prompt_choice(const PromptPairChoice& choice);
// Throws cscrub::Error (the CLI's message) unless there is at least one prompt per forward pass.
void check_batch_size(int batch_size);

// A dataset file's prompts (its first `first` when given), checked against the tokenizer and the model.
// Throws cscrub::Error naming the file.
data::Dataset read_prompt_dataset(const std::string& path, std::optional<int> first, const io::Tokenizer& tokenizer,
                                  const engine::ModelConfig& config);

// The pairs `choice` names, checked. `tokenizer` may be null (a model that runs on token ids alone): then only
// a pair file of token ids can be read, and anything else throws cscrub::Error naming `model_dir`.
discover::PairedDataset load_prompt_pairs(const PromptPairChoice& choice, const std::string& model_dir,
                                          const engine::ModelConfig& config, const io::Tokenizer* tokenizer);

// The prompts alone, for commands that need no pairs (`choice.pairs` is not read): the dataset file's (all, or
// the first n), checked against the model, else n prompts of the task drawn with the seed.
data::Dataset load_prompts(const PromptPairChoice& choice, const io::Tokenizer& tokenizer,
                           const engine::ModelConfig& config);

// What the prompts are, for output: "200 ioi (seed 0)", "32 pairs from FILE" or "24 prompts of FILE".
std::string describe_prompt_pairs(const PromptPairChoice& choice, size_t count);

}  // namespace cscrub::app
