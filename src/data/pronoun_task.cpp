// Gendered-pronoun prompts (datasets/pronoun.toml): gender drawn 50/50, a name of that gender and a
// template drawn uniformly; the answer is the agreeing pronoun, the distractor the other one.
#include <string>
#include <vector>

#include "cscrub/data/random.hpp"
#include "cscrub/error.hpp"
#include "generators.hpp"
#include "prompt_layout.hpp"
#include "task_files.hpp"
#include "task_options.hpp"
#include "task_schemas.hpp"

namespace cscrub::data {

Dataset make_pronoun_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options) {
  const OptionReader reader("pronoun", options, pronoun_options());
  const TaskFile file(task_file(reader.text("vocabulary"), "pronoun.toml"));
  const std::vector<TaskFile::Entry> names[2] = {file.entries("male_names"), file.entries("female_names")};
  const std::vector<TaskFile::Entry> templates = file.entries("templates");
  const std::vector<TaskFile::Entry> pronouns = file.entries("pronouns");
  const char* genders[2] = {"male", "female"};
  if (pronouns.size() != 2)
    throw Error(file.where(pronouns.front()) + "'pronouns' must hold two words, male then female");
  const int32_t pronoun_tokens[2] = {single_word_token(pronouns[0].text, tokenizer, file.where(pronouns[0])),
                                     single_word_token(pronouns[1].text, tokenizer, file.where(pronouns[1]))};
  for (const auto& list : names)
    for (const auto& entry : list) single_word_token(entry.text, tokenizer, file.where(entry));
  for (const auto& entry : templates)
    if (placeholders(entry.text) != std::vector<std::string>{"[NAME]"})
      throw Error(file.where(entry) + "pronoun template '" + entry.text + "' must hold [NAME] exactly once");

  Rng rng(seed);
  Dataset dataset{.schema = pronoun_schema(),
                  .examples = {},
                  .seed = seed,
                  .generator = "cscrub dataset pronoun --n " + std::to_string(n) + " --seed " + std::to_string(seed) +
                               reader.describe_given(),
                  .source_files = {file.path().string()}};
  dataset.examples.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const int gender = rng.index(2);
    const auto& name = names[gender][static_cast<size_t>(rng.index(names[gender].size()))];
    const int template_index = rng.index(templates.size());
    const auto& template_entry = templates[static_cast<size_t>(template_index)];
    const std::vector<std::string> words = {name.text};
    const FilledPrompt filled = fill_template(template_entry.text, words, tokenizer, file.where(template_entry));

    const int name_position = filled.word_positions[0];
    const int end = static_cast<int>(filled.tokens.size()) - 1;
    Example example{.text = filled.text,
                    .tokens = filled.tokens,
                    .answer = pronoun_tokens[gender],
                    .distractor = pronoun_tokens[1 - gender],
                    .positions = {name_position, name_position + 1, end},
                    .features = {name.text, genders[gender], "pronoun:" + std::to_string(template_index)},
                    .group = {}};
    example.group = group_label(example.features[2], filled.tokens.size(), example.positions);
    dataset.examples.push_back(std::move(example));
  }
  return dataset;
}

}  // namespace cscrub::data
