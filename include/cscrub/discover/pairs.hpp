// Clean and corrupted prompts in pairs, for patching: the corrupted prompt of each clean one has the same
// length and named positions (and so the same alignment group), so activations can be swapped between them
// token for token. The metric always uses the clean prompt's answer and distractor.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "cscrub/data/dataset.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::discover {

struct PairedDataset {
  data::Dataset clean;
  data::Dataset corrupted;  // corrupted.examples[i] is the counterpart of clean.examples[i]
  std::string corruption;   // the corrupted distribution in a few words, for titles: "p_ABC", ...
};

// IOI: the clean prompts and the p_ABC prompts drawn with the same seed (same template, names and place; the
// name at S2 replaced by a third name). Other tasks: each prompt's counterpart is another prompt of its
// alignment group (see pair_within_groups). Throws cscrub::Error if `options` sets IOI's "distribution"
// (the pairing chooses it) or names an option the task does not have.
PairedDataset make_paired_dataset(std::string_view task, int n, uint64_t seed, const io::Tokenizer& tokenizer,
                                  const data::TaskOptions& options = {});

// Pairs every prompt with a different prompt of its own alignment group: within each group the prompts are
// rotated by a seeded offset in [1, size - 1], so the corrupted dataset is a permutation of the clean one with
// no prompt paired to itself. Throws cscrub::Error naming a group that has a single prompt.
PairedDataset pair_within_groups(data::Dataset clean, uint64_t seed);

// Throws cscrub::Error naming the first pair whose lengths or named positions differ, or whose clean prompt
// has no distractor (the logit difference needs one).
void check_pairs(const PairedDataset& pairs);

}  // namespace cscrub::discover
