// IOI prompts as the paper builds them (Wang et al. 2022, Easy-Transformer's ioi_dataset.py): a template
// drawn uniformly from the 15, two distinct names drawn uniformly, a place and an object drawn uniformly.
// The prompt stops before the final " [A]". "mixed" is exactly half ABBA, half BABA, in shuffled order;
// the paper's code instead draws each template from a pooled ABBA + BABA list (in some versions only the
// first 7 of each by default); cscrub's mixed set covers all 15 templates in both orders, balanced.
#include <string>
#include <vector>

#include "cscrub/data/random.hpp"
#include "generators.hpp"
#include "ioi_vocabulary.hpp"
#include "prompt_layout.hpp"
#include "task_options.hpp"
#include "task_schemas.hpp"

namespace cscrub::data {
namespace {

struct IoiDraw {
  int template_index = 0;
  int io = 0, s = 0, c = 0;  // indices into names; c is the p_ABC name at S2, drawn in both distributions
  int place = 0, object = 0;
};

// Two distinct indices below `size` other than `a`, then other than both: uniform over what is left.
int draw_other(Rng& rng, int size, int a) { return (a + 1 + rng.index(static_cast<size_t>(size - 1))) % size; }
int draw_third(Rng& rng, int size, int a, int b) {
  int low = std::min(a, b), high = std::max(a, b);
  int k = rng.index(static_cast<size_t>(size - 2));
  if (k >= low) ++k;
  if (k >= high) ++k;
  return k;
}

}  // namespace

Dataset make_ioi_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options) {
  const OptionReader reader("ioi", options, ioi_options());
  const std::string order = reader.choice("order", {"baba", "abba", "mixed"});
  const bool abc = reader.choice("distribution", {"ioi", "abc"}) == "abc";
  const std::string template_set = reader.choice("templates", ioi_template_sets());
  const IoiVocabulary vocabulary =
      read_ioi_vocabulary(task_file(reader.text("vocabulary"), "ioi_paper_vocabulary.toml"), template_set);

  // Every word must be one token with its leading space; checked up front so the error names its line.
  const auto where = [&](const TaskFile::Entry& entry) {
    return vocabulary.file.string() + ":" + std::to_string(entry.line) + ": ";
  };
  for (const auto* words : {&vocabulary.names, &vocabulary.places, &vocabulary.objects})
    for (const auto& entry : *words) single_word_token(entry.text, tokenizer, where(entry));

  Rng rng(seed);
  std::vector<std::string> orders(static_cast<size_t>(n), order == "abba" ? "ABBA" : "BABA");
  if (order == "mixed") {  // n/2 ABBA prompts, the rest BABA, in shuffled order
    std::fill(orders.begin(), orders.begin() + n / 2, "ABBA");
    rng.shuffle(std::span(orders));
  }

  const int name_count = static_cast<int>(vocabulary.names.size());
  Dataset dataset{.schema = ioi_schema(),
                  .examples = {},
                  .seed = seed,
                  .generator = "cscrub dataset ioi --n " + std::to_string(n) + " --seed " + std::to_string(seed) +
                               reader.describe_given(),
                  .source_files = {vocabulary.file.string()}};
  dataset.examples.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    IoiDraw draw;
    draw.template_index = rng.index(vocabulary.baba_templates.size());
    draw.io = rng.index(vocabulary.names.size());
    draw.s = draw_other(rng, name_count, draw.io);
    draw.c = draw_third(rng, name_count, draw.io, draw.s);
    draw.place = rng.index(vocabulary.places.size());
    draw.object = rng.index(vocabulary.objects.size());

    const auto& baba = vocabulary.baba_templates[static_cast<size_t>(draw.template_index)];
    const std::string& order_name = orders[static_cast<size_t>(i)];
    std::string sentence = order_name == "ABBA" ? abba_from_baba(baba.text) : baba.text;
    const std::string prompt_template = sentence.substr(0, sentence.size() - 4);  // drop the final " [A]"

    const std::string& io_name = vocabulary.names[static_cast<size_t>(draw.io)].text;
    const std::string& s_name = vocabulary.names[static_cast<size_t>(draw.s)].text;
    const std::string& s2_name = abc ? vocabulary.names[static_cast<size_t>(draw.c)].text : s_name;
    const std::string& place = vocabulary.places[static_cast<size_t>(draw.place)].text;
    const std::string& object = vocabulary.objects[static_cast<size_t>(draw.object)].text;

    std::vector<std::string> words;
    int io_slot = -1, s1_slot = -1, s2_slot = -1;
    for (const auto& placeholder : placeholders(prompt_template)) {
      const int slot = static_cast<int>(words.size());
      if (placeholder == "[A]") {
        words.push_back(io_name);
        if (io_slot < 0) io_slot = slot;
      } else if (placeholder == "[B]") {
        words.push_back(s1_slot < 0 ? s_name : s2_name);
        (s1_slot < 0 ? s1_slot : s2_slot) = slot;
      } else {
        words.push_back(placeholder == "[PLACE]" ? place : object);
      }
    }
    const FilledPrompt filled = fill_template(prompt_template, words, tokenizer, where(baba));

    const int io = filled.word_positions[static_cast<size_t>(io_slot)];
    const int s1 = filled.word_positions[static_cast<size_t>(s1_slot)];
    const int s2 = filled.word_positions[static_cast<size_t>(s2_slot)];
    const int end = static_cast<int>(filled.tokens.size()) - 1;
    const std::string template_id = template_set + ":" + std::to_string(draw.template_index);
    Example example{.text = filled.text,
                    .tokens = filled.tokens,
                    .answer = *tokenizer.single_token(" " + io_name),
                    .distractor = *tokenizer.single_token(" " + s_name),
                    .positions = {io, s1, s1 + 1, s2, end},
                    .features = {io_name, s_name, s2_name, template_id, order_name, place, object},
                    .group = {}};
    example.group = group_label(template_id + "/" + order_name, filled.tokens.size(), example.positions);
    dataset.examples.push_back(std::move(example));
  }
  return dataset;
}

}  // namespace cscrub::data
