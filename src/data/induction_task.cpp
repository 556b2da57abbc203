// Induction prompts: L distinct words drawn from the pool of datasets/induction.toml, then the first K of
// them again; the answer is word K (what followed the last prompt word the first time), the distractor a
// different word of the same sequence. See datasets/induction.toml for the options.
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
namespace {

struct PoolWord {
  std::string text;
  int32_t token = -1;
};

std::vector<PoolWord> read_pool(const std::filesystem::path& path, const io::Tokenizer& tokenizer) {
  const TaskFile file(path);
  std::vector<PoolWord> pool;
  for (const auto& entry : file.entries("words")) {  // entries() refuses a word listed twice
    pool.push_back({entry.text, single_word_token(entry.text, tokenizer, file.where(entry))});
  }
  if (pool.size() < 2) throw Error(path.string() + ": 'words' needs at least 2 words");
  return pool;
}

// `count` distinct indices below `size`, in random order (a partial Fisher-Yates shuffle).
std::vector<int> draw_distinct(Rng& rng, int size, int count) {
  std::vector<int> indices(static_cast<size_t>(size));
  for (int i = 0; i < size; ++i) indices[static_cast<size_t>(i)] = i;
  for (int i = 0; i < count; ++i)
    std::swap(indices[static_cast<size_t>(i)],
              indices[static_cast<size_t>(i + rng.index(static_cast<size_t>(size - i)))]);
  indices.resize(static_cast<size_t>(count));
  return indices;
}

}  // namespace

Dataset make_induction_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options) {
  const OptionReader reader("induction", options, induction_options());
  const std::filesystem::path pool_file = task_file(reader.text("vocabulary"), "induction.toml");
  const std::vector<PoolWord> pool = read_pool(pool_file, tokenizer);
  const int length = reader.integer("length", 2, static_cast<int>(pool.size()),
                                    pool_file.string() + " lists " + std::to_string(pool.size()) + " words");
  const bool random_repeat = reader.text("repeat") == "random";
  const int fixed_repeat = random_repeat ? 0 : reader.integer("repeat", 1, length - 1);

  Rng rng(seed);
  Dataset dataset{.schema = induction_schema(),
                  .examples = {},
                  .seed = seed,
                  .generator = "cscrub dataset induction --n " + std::to_string(n) + " --seed " + std::to_string(seed) +
                               reader.describe_given(),
                  .source_files = {pool_file.string()}};
  dataset.examples.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    const std::vector<int> sequence = draw_distinct(rng, static_cast<int>(pool.size()), length);
    const int repeat = random_repeat ? 1 + rng.index(static_cast<size_t>(length - 1)) : fixed_repeat;
    int distractor_index = rng.index(static_cast<size_t>(length - 1));  // any sequence position but the answer's
    if (distractor_index >= repeat) ++distractor_index;

    const auto word = [&](int position) -> const PoolWord& {
      return pool[static_cast<size_t>(sequence[static_cast<size_t>(position % length)])];
    };
    Example example;
    for (int position = 0; position < length + repeat; ++position) {
      example.text += " " + word(position).text;
      example.tokens.push_back(word(position).token);
    }
    if (tokenizer.encode(example.text) != example.tokens)  // words are separate pre-tokens: cannot merge
      throw Error("induction prompt '" + example.text + "' does not tokenize word by word");
    const int end = length + repeat - 1;
    example.answer = word(repeat).token;
    example.distractor = word(distractor_index).token;
    example.positions = {repeat - 1, repeat, length, end};
    std::string sequence_text;
    for (int position = 0; position < length; ++position) sequence_text += (position ? " " : "") + word(position).text;
    example.features = {word(repeat).text, word(end).text, word(end - 1).text, sequence_text};
    std::string head = "repeat:";
    head += std::to_string(repeat);
    example.group = group_label(head, example.tokens.size(), example.positions);
    dataset.examples.push_back(std::move(example));
  }
  return dataset;
}

}  // namespace cscrub::data
