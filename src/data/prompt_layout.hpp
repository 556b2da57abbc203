// Filling a template's placeholders ("[A]", "[PLACE]", ...) with words and checking the token layout the
// tasks assume: every word is exactly one GPT-2 token with its leading space, so named positions can be
// read off the template.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/io/tokenizer.hpp"

namespace cscrub::data {

// The placeholders of a template in order of appearance, e.g. {"[B]", "[A]", "[PLACE]", "[B]", ...}.
std::vector<std::string> placeholders(std::string_view template_text);

struct FilledPrompt {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<int> word_positions;  // the token index of each placeholder's word, in order of appearance
};

// Replaces the i-th placeholder of `template_text` by words[i] and tokenizes the result. Throws
// cscrub::Error (starting with `context`, e.g. "file:line: ") when a placeholder is not preceded by a space
// or a word does not come out as its own single token.
FilledPrompt fill_template(std::string_view template_text, std::span<const std::string> words,
                           const io::Tokenizer& tokenizer, const std::string& context);

// The id of " " + word; throws cscrub::Error (starting with `context`) naming the word when it is not
// exactly one token.
int32_t single_word_token(const std::string& word, const io::Tokenizer& tokenizer, const std::string& context);

// An alignment group label: "<head>/<token count>/<position>,<position>,...". Prompts with equal labels have
// equal length and equal named positions, which is what resampling among them needs.
std::string group_label(const std::string& head, size_t token_count, std::span<const int> positions);

}  // namespace cscrub::data
