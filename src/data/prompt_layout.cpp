#include "prompt_layout.hpp"

#include <algorithm>
#include <cassert>

#include "cscrub/error.hpp"

namespace cscrub::data {
namespace {

struct PlaceholderSpan {
  size_t begin = 0;  // of '['
  size_t end = 0;    // one past ']'
};

// "[" + capital letters + "]"
std::vector<PlaceholderSpan> placeholder_spans(std::string_view text) {
  std::vector<PlaceholderSpan> spans;
  for (size_t open = text.find('['); open != std::string_view::npos; open = text.find('[', open + 1)) {
    size_t close = open + 1;
    while (close < text.size() && text[close] >= 'A' && text[close] <= 'Z') ++close;
    if (close < text.size() && text[close] == ']' && close > open + 1) spans.push_back({open, close + 1});
  }
  return spans;
}

}  // namespace

std::vector<std::string> placeholders(std::string_view template_text) {
  std::vector<std::string> names;
  for (const auto& span : placeholder_spans(template_text))
    names.emplace_back(template_text.substr(span.begin, span.end - span.begin));
  return names;
}

int32_t single_word_token(const std::string& word, const io::Tokenizer& tokenizer, const std::string& context) {
  if (auto id = tokenizer.single_token(" " + word)) return *id;
  throw Error(context + "'" + word + "' is not a single GPT-2 token with a leading space (' " + word + "' is " +
                  std::to_string(tokenizer.encode(" " + word).size()) + " tokens)",
              "every name, place, object and word of a task must be one token; remove or replace it");
}

FilledPrompt fill_template(std::string_view template_text, std::span<const std::string> words,
                           const io::Tokenizer& tokenizer, const std::string& context) {
  const auto spans = placeholder_spans(template_text);
  assert(spans.size() == words.size() && "one word per placeholder");
  FilledPrompt filled;
  std::vector<size_t> space_before_word;  // character offset of the space each word's token starts with
  size_t copied = 0;
  for (size_t i = 0; i < spans.size(); ++i) {
    if (spans[i].begin == 0 || template_text[spans[i].begin - 1] != ' ')
      throw Error(context + "in template '" + std::string(template_text) + "', placeholder " +
                  std::string(template_text.substr(spans[i].begin, spans[i].end - spans[i].begin)) +
                  " is not preceded by a space, so its word would not be a token of its own");
    filled.text.append(template_text.substr(copied, spans[i].begin - copied));
    space_before_word.push_back(filled.text.size() - 1);
    filled.text += words[i];
    copied = spans[i].end;
  }
  filled.text.append(template_text.substr(copied));
  filled.tokens = tokenizer.encode(filled.text);

  for (size_t i = 0; i < words.size(); ++i) {
    const int32_t word_token = single_word_token(words[i], tokenizer, context);
    const auto before = tokenizer.encode(std::string_view(filled.text).substr(0, space_before_word[i]));
    const bool stands_alone = before.size() < filled.tokens.size() &&
                              std::equal(before.begin(), before.end(), filled.tokens.begin()) &&
                              filled.tokens[before.size()] == word_token;
    if (!stands_alone)
      throw Error(context + "in '" + filled.text + "', ' " + words[i] +
                  "' is not a token of its own (the tokenizer merged it with its neighbours)");
    filled.word_positions.push_back(static_cast<int>(before.size()));
  }
  return filled;
}

std::string group_label(const std::string& head, size_t token_count, std::span<const int> positions) {
  std::string label = head;
  label += '/';
  label += std::to_string(token_count);
  label += '/';
  for (size_t i = 0; i < positions.size(); ++i) {
    if (i) label += ',';
    label += std::to_string(positions[i]);
  }
  return label;
}

}  // namespace cscrub::data
