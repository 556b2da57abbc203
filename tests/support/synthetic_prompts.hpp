// Random prompts of a made-up task for tests that need no tokenizer: random tokens, an answer and a
// different distractor, positions P1 (= 1) and END (the last token), alignment group "len<length>".
#pragma once
#include <random>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"

namespace cscrub::test {

inline data::TaskSchema synthetic_schema(std::vector<std::string> features) {
  data::TaskSchema schema;
  schema.task = "synthetic";
  schema.features = std::move(features);
  schema.positions = {"P1", "END"};
  schema.default_metric = "logit_diff";
  return schema;
}

// One prompt of `length` tokens; the caller sets its features (and text, if it matters).
inline data::Example random_prompt(std::mt19937& generator, int vocab, int length) {
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  data::Example example;
  for (int p = 0; p < length; ++p) example.tokens.push_back(token(generator));
  example.answer = token(generator);
  do example.distractor = token(generator);
  while (example.distractor == example.answer);
  example.positions = {1, length - 1};
  example.group = "len" + std::to_string(length);
  example.text = "synthetic";
  return example;
}

}  // namespace cscrub::test
