#include "cscrub/discover/pairs.hpp"

#include <map>

#include "cscrub/data/random.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {

PairedDataset make_paired_dataset(std::string_view task, int n, uint64_t seed, const io::Tokenizer& tokenizer,
                                  const data::TaskOptions& options) {
  if (task != "ioi") {
    PairedDataset pairs = pair_within_groups(data::make_dataset(task, n, seed, tokenizer, options), seed);
    check_pairs(pairs);
    return pairs;
  }
  if (options.count("distribution") > 0)
    throw Error("--option distribution: patching pairs each IOI prompt with its p_ABC version itself",
                "leave out --option distribution");
  // The IOI generator draws the third name C in both distributions, so the same seed gives the same
  // templates, names, places and objects, and the abc prompts differ only at S2.
  data::TaskOptions clean_options = options, corrupted_options = options;
  clean_options["distribution"] = "ioi";
  corrupted_options["distribution"] = "abc";
  PairedDataset pairs{.clean = data::make_dataset(task, n, seed, tokenizer, clean_options),
                      .corrupted = data::make_dataset(task, n, seed, tokenizer, corrupted_options),
                      .corruption = "p_ABC"};
  check_pairs(pairs);
  return pairs;
}

PairedDataset pair_within_groups(data::Dataset clean, uint64_t seed) {
  std::map<std::string, std::vector<int>> groups;
  for (size_t i = 0; i < clean.examples.size(); ++i) groups[clean.examples[i].group].push_back(static_cast<int>(i));
  data::Dataset corrupted = clean;
  data::Rng rng(seed ^ 0x70a1'7ed0'c0bbu);  // a stream of its own, apart from the dataset's draws
  for (const auto& [group, members] : groups) {
    if (members.size() < 2)
      throw Error("alignment group '" + group + "' has a single prompt (example " + std::to_string(members[0]) +
                      "): it cannot be paired with another prompt of its group",
                  "generate more prompts (--n)");
    const size_t shift = 1 + rng.below(members.size() - 1);
    for (size_t k = 0; k < members.size(); ++k)
      corrupted.examples[static_cast<size_t>(members[k])] =
          clean.examples[static_cast<size_t>(members[(k + shift) % members.size()])];
  }
  return {.clean = std::move(clean),
          .corrupted = std::move(corrupted),
          .corruption = "another prompt of its alignment group"};
}

void check_pairs(const PairedDataset& pairs) {
  const auto& clean = pairs.clean.examples;
  const auto& corrupted = pairs.corrupted.examples;
  if (clean.empty()) throw Error("the dataset has no prompts");
  if (clean.size() != corrupted.size())
    throw Error(std::to_string(clean.size()) + " clean prompts but " + std::to_string(corrupted.size()) +
                " corrupted ones");
  for (size_t i = 0; i < clean.size(); ++i) {
    const std::string where = "prompt " + std::to_string(i) + " ('" + clean[i].text + "')";
    if (clean[i].tokens.size() != corrupted[i].tokens.size() || clean[i].positions != corrupted[i].positions)
      throw Error(where + ": its corrupted counterpart ('" + corrupted[i].text +
                  "') has a different length or different named positions");
    if (clean[i].distractor < 0)
      throw Error(where + ": has no distractor token, and the logit difference needs one");
  }
}

}  // namespace cscrub::discover
