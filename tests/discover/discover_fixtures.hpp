// A small random model and paired synthetic prompts for the discover tests (no files, no tokenizer).
#pragma once
#include "../scrub/scrub_fixtures.hpp"
#include "cscrub/discover/pairs.hpp"
#include "random_weights.hpp"

namespace cscrub::test {

struct DiscoverFixture {
  engine::Weights weights = random_weights(small_config(), 7);
  // Two alignment groups (6 and 7 tokens) of `per_group` prompts; each prompt paired with another of its group.
  discover::PairedDataset pairs(int per_group = 4, unsigned seed = 11) const {
    return discover::pair_within_groups(synthetic_dataset(per_group, small_config().vocab_size, seed), seed);
  }
};

}  // namespace cscrub::test
