#include "cscrub/app/prompt_pairs.hpp"

#include <fmt/format.h>

#include "cscrub/app/task_options.hpp"
#include "cscrub/data/checks.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/pair_file.hpp"
#include "cscrub/error.hpp"

namespace cscrub::app {
namespace {

const io::Tokenizer& require_tokenizer(const io::Tokenizer* tokenizer, const std::string& model_dir) {
  if (!tokenizer)
    throw Error(model_dir + " has no tokenizer files, and prompts need one",
                "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe), or give --pairs of "
                "token ids");
  return *tokenizer;
}

}  // namespace

void check_prompt_choice(const PromptPairChoice& choice) {
  if (choice.pairs.empty() && choice.dataset.empty()) data::task_schema(choice.task);
  if (choice.n <= 0) throw Error("--n must be a positive number of prompts (got " + std::to_string(choice.n) + ")");
}

void check_batch_size(int batch_size) {
  if (batch_size <= 0) throw Error("--batch-size must be positive (got " + std::to_string(batch_size) + ")");
}

data::Dataset read_prompt_dataset(const std::string& path, std::optional<int> first, const io::Tokenizer& tokenizer,
                                  const engine::ModelConfig& config) {
  data::Dataset dataset = data::read_jsonl(path, &tokenizer);
  data::check_tokens(dataset, tokenizer, path);
  data::check_fits_model(dataset, config, path);
  if (!first) return dataset;
  if (*first > static_cast<int>(dataset.examples.size()))
    throw Error("--n " + std::to_string(*first) + " is larger than the dataset " + path + " (" +
                    std::to_string(dataset.examples.size()) + " prompts)",
                "leave out --n to use them all");
  dataset.examples.resize(static_cast<size_t>(*first));
  return dataset;
}

discover::PairedDataset load_prompt_pairs(const PromptPairChoice& choice, const std::string& model_dir,
                                          const engine::ModelConfig& config, const io::Tokenizer* tokenizer) {
  if (!choice.pairs.empty()) {
    discover::PairedDataset pairs = discover::read_pair_file(choice.pairs, config, tokenizer);
    discover::check_pairs(pairs);
    return pairs;
  }
  const io::Tokenizer& required = require_tokenizer(tokenizer, model_dir);
  if (!choice.dataset.empty()) {
    const std::optional<int> first = choice.n_given ? std::optional<int>(choice.n) : std::nullopt;
    discover::PairedDataset pairs =
        discover::pair_within_groups(read_prompt_dataset(choice.dataset, first, required, config), choice.seed);
    discover::check_pairs(pairs);
    return pairs;
  }
  return discover::make_paired_dataset(choice.task, choice.n, choice.seed, required,
                                       parse_task_options(choice.task_options));
}

data::Dataset load_prompts(const PromptPairChoice& choice, const io::Tokenizer& tokenizer,
                           const engine::ModelConfig& config) {
  if (choice.dataset.empty())
    return data::make_dataset(choice.task, choice.n, choice.seed, tokenizer, parse_task_options(choice.task_options));
  return read_prompt_dataset(choice.dataset, choice.n_given ? std::optional<int>(choice.n) : std::nullopt, tokenizer,
                             config);
}

std::string describe_prompt_pairs(const PromptPairChoice& choice, size_t count) {
  if (!choice.pairs.empty()) return fmt::format("{} pairs from {}", count, choice.pairs);
  if (!choice.dataset.empty()) return fmt::format("{} prompts of {}", count, choice.dataset);
  return fmt::format("{} {} (seed {})", count, choice.task, choice.seed);
}

}  // namespace cscrub::app
