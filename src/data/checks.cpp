#include "cscrub/data/checks.hpp"

#include <map>
#include <optional>
#include <utility>

#include "cscrub/error.hpp"

namespace cscrub::data {
namespace {

std::string example_at(const std::string& source, size_t index) {
  return source + ": example " + std::to_string(index) + ": ";
}

}  // namespace

void check_consistency(const Dataset& dataset, const std::string& source) {
  const auto& schema = dataset.schema;
  // IOI's IO and S as names (the features resampling follows): a prompt whose IO is its S measures nothing,
  // whatever answer and distractor ids its line lists.
  const std::optional<int> io_feature = schema.feature_index("io_name"), s_feature = schema.feature_index("s_name");
  // group -> (index of its first example, that example's length)
  std::map<std::string, size_t> first_of_group;
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    const Example& example = dataset.examples[i];
    const std::string where = example_at(source, i);
    const int length = static_cast<int>(example.tokens.size());
    if (example.tokens.empty()) throw Error(where + "no tokens");
    if (example.answer < 0) throw Error(where + "no answer token");
    if (example.group.empty()) throw Error(where + "no group");
    if (example.distractor >= 0 && example.distractor == example.answer)
      throw Error(where + "the answer and the distractor are the same token (" + std::to_string(example.answer) + ")",
                  "the metric compares the answer with the distractor: they must differ (in IOI, IO and S)");
    if (example.positions.size() != schema.positions.size())
      throw Error(where + std::to_string(example.positions.size()) + " positions, but task '" + schema.task +
                  "' names " + std::to_string(schema.positions.size()));
    if (example.features.size() != schema.features.size())
      throw Error(where + std::to_string(example.features.size()) + " features, but task '" + schema.task + "' names " +
                  std::to_string(schema.features.size()));
    if (io_feature && s_feature && example.features[*io_feature] == example.features[*s_feature])
      throw Error(where + "io_name and s_name are the same name ('" + example.features[*io_feature] + "'): IO = S",
                  "the metric compares IO with S: they must differ");
    for (size_t p = 0; p < example.positions.size(); ++p)
      if (example.positions[p] < 0 || example.positions[p] >= length)
        throw Error(where + "position " + schema.positions[p] + " = " + std::to_string(example.positions[p]) +
                    " is outside the prompt's " + std::to_string(length) + " tokens");
    auto [first, inserted] = first_of_group.emplace(example.group, i);
    if (inserted) continue;
    const Example& reference = dataset.examples[first->second];
    if (reference.tokens.size() != example.tokens.size() || reference.positions != example.positions)
      throw Error(where + "group '" + example.group + "' mixes prompts of different length or positions (see example " +
                      std::to_string(first->second) + ")",
                  "prompts resampled for one another must line up token by token");
  }
}

void check_tokens(const Dataset& dataset, const io::Tokenizer& tokenizer, const std::string& source) {
  const int32_t vocab_size = tokenizer.vocab_size();
  const auto in_vocabulary = [&](int32_t id) { return id >= 0 && id < vocab_size; };
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    const Example& example = dataset.examples[i];
    const std::string where = example_at(source, i);
    for (int32_t id : example.tokens)
      if (!in_vocabulary(id))
        throw Error(where + "token id " + std::to_string(id) + " is outside the tokenizer's " +
                    std::to_string(vocab_size) + " tokens");
    if (!in_vocabulary(example.answer) || (example.distractor != -1 && !in_vocabulary(example.distractor)))
      throw Error(where + "answer or distractor id outside the tokenizer's " + std::to_string(vocab_size) + " tokens");
    if (tokenizer.encode(example.text) != example.tokens)
      throw Error(where + "the text '" + example.text + "' does not encode to the listed tokens",
                  "the dataset was made with another tokenizer; regenerate it with this model's");
  }
}

void check_fits_model(const Dataset& dataset, const engine::ModelConfig& config, const std::string& source) {
  const auto in_vocabulary = [&](int32_t id) { return id >= 0 && id < config.vocab_size; };
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    const Example& example = dataset.examples[i];
    const std::string where = example_at(source, i);
    if (example.tokens.size() > static_cast<size_t>(config.n_ctx))
      throw Error(where + std::to_string(example.tokens.size()) + " tokens, more than the model's context of " +
                      std::to_string(config.n_ctx),
                  "use shorter prompts, or a model with a longer context");
    for (int32_t id : example.tokens)
      if (!in_vocabulary(id))
        throw Error(where + "token id " + std::to_string(id) + " is outside the model's vocabulary of " +
                    std::to_string(config.vocab_size));
    if (!in_vocabulary(example.answer) || (example.distractor != -1 && !in_vocabulary(example.distractor)))
      throw Error(where + "answer or distractor id outside the model's vocabulary of " +
                  std::to_string(config.vocab_size));
  }
}

}  // namespace cscrub::data
