#include "cscrub/app/attention_pattern.hpp"

#include <fmt/format.h>

#include "cscrub/app/model_choice.hpp"
#include "cscrub/discover/attention.hpp"
#include "cscrub/error.hpp"

namespace cscrub::app {
namespace {

AttentionPrompt read_prompt(const AttentionPatternOptions& options, const LoadedModel& model) {
  const io::Tokenizer& tokenizer = model.tokenizer();
  if (options.text.has_value() == options.index.has_value())
    throw Error("attention: give exactly one prompt",
                "--text TEXT, or --index I for prompt I of --task (e.g. ioi) or --dataset");
  AttentionPrompt prompt;
  if (options.text) {
    prompt.text = *options.text;
    prompt.tokens = tokenizer.encode(prompt.text);
    if (prompt.tokens.empty()) throw Error("attention: --text is empty");
    for (int32_t id : prompt.tokens) prompt.labels.push_back(tokenizer.token_text(id));
    return prompt;
  }
  const PromptPairChoice& prompts = options.prompts;
  const int index = *options.index;
  check_prompt_choice(prompts);
  // A task's prompts are checked before they are made; a dataset's once read.
  if (prompts.dataset.empty() && (index < 0 || index >= prompts.n))
    throw Error("--index " + std::to_string(index) + " is outside the " + std::to_string(prompts.n) + " prompts",
                "give 0 to " + std::to_string(prompts.n - 1) + " (or a larger --n)");
  const data::Dataset dataset = load_prompts(prompts, tokenizer, model.weights.config);
  if (index < 0 || index >= static_cast<int>(dataset.examples.size()))
    throw Error("--index " + std::to_string(index) + " is outside the " + std::to_string(dataset.examples.size()) +
                    " prompts of " + prompts.dataset,
                "give 0 to " + std::to_string(dataset.examples.size() - 1));
  const data::Example& example = dataset.examples[static_cast<size_t>(index)];
  prompt.text = example.text;
  prompt.tokens = example.tokens;
  // Named positions tag their token, e.g. " John [S2]".
  std::vector<std::string> names(prompt.tokens.size());
  for (size_t i = 0; i < example.positions.size(); ++i) {
    std::string& name = names[static_cast<size_t>(example.positions[i])];
    name += (name.empty() ? "" : ", ") + dataset.schema.positions[i];
  }
  for (size_t p = 0; p < prompt.tokens.size(); ++p)
    prompt.labels.push_back(tokenizer.token_text(prompt.tokens[p]) + (names[p].empty() ? "" : " [" + names[p] + "]"));
  return prompt;
}

}  // namespace

std::string AttentionPatternRun::head_name() const { return fmt::format("{}.{}", head.layer, head.head); }

std::string AttentionPatternRun::meaning() const {
  return "attention probabilities of head " + head_name() +
         " (hook_pattern): row = query, column = key; 0 above the diagonal (a query cannot see later keys)";
}

AttentionPatternRun run_attention_pattern(const AttentionPatternOptions& options) {
  const LoadedModel model = load_model_and_tokenizer(options.model, options.matmul);
  AttentionPatternRun run;
  run.model_dir = options.model;
  run.config = model.weights.config;
  run.head = discover::parse_head(options.head, model.weights.config);
  run.prompt = read_prompt(options, model);
  run.pattern = discover::attention_pattern(model.weights, run.prompt.tokens, run.head);
  return run;
}

nlohmann::ordered_json attention_pattern_json(const AttentionPatternRun& run) {
  const auto positions = run.pattern.cols();
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (Eigen::Index query = 0; query < run.pattern.rows(); ++query)
    rows.push_back(std::vector<float>(run.pattern.row(query).data(), run.pattern.row(query).data() + positions));
  const std::vector<std::string>& labels = run.prompt.labels;
  return {
      {"command", "attention"},
      {"model", run.model_dir},
      {"head", run.head_name()},
      {"prompt", run.prompt.text},
      {"tokens", run.prompt.tokens},
      {"meaning", run.meaning()},
      {"pattern", {{"axes", {"query", "key"}}, {"labels", {{"query", labels}, {"key", labels}}}, {"values", rows}}}};
}

}  // namespace cscrub::app
