// A small random model and paired synthetic prompts for the discover tests (no files, no tokenizer).
#pragma once
#include <random>
#include <string>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/pairs.hpp"
#include "random_weights.hpp"
#include "synthetic_prompts.hpp"

namespace cscrub::test {

// Two alignment groups (6 and 7 tokens) of `per_group` random prompts each; named positions P1 and END.
inline data::Dataset synthetic_prompts(int per_group, int vocab, unsigned seed) {
  data::Dataset dataset;
  dataset.schema = synthetic_schema({"a"});
  std::mt19937 generator(seed);
  for (int length : {6, 7}) {
    for (int i = 0; i < per_group; ++i) {
      data::Example example = random_prompt(generator, vocab, length);
      example.features = {std::to_string(i % 3)};
      example.text = "synthetic " + std::to_string(length) + "/" + std::to_string(i);
      dataset.examples.push_back(example);
    }
  }
  return dataset;
}

struct DiscoverFixture {
  engine::Weights weights = random_weights(small_config(), 7);  // or another family's small_config
  static DiscoverFixture of(const engine::ModelConfig& config) { return {random_weights(config, 7)}; }
  // Each prompt paired with another of its group.
  discover::PairedDataset pairs(int per_group = 4, unsigned seed = 11) const {
    return discover::pair_within_groups(synthetic_prompts(per_group, small_config().vocab_size, seed), seed);
  }
};

}  // namespace cscrub::test
