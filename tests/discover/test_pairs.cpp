// Paired datasets and batches: pairs line up token for token, batches never mix groups.
#include <catch2/catch.hpp>
#include <filesystem>
#include <set>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "discover_fixtures.hpp"
#include "test_paths.hpp"

using namespace cscrub;

TEST_CASE("pairing within groups is a seeded permutation without fixed points", "[discover][pairs]") {
  const data::Dataset clean = test::synthetic_prompts(5, 101, 4);
  const discover::PairedDataset pairs = discover::pair_within_groups(clean, 9);
  REQUIRE(pairs.corrupted.examples.size() == clean.examples.size());
  std::multiset<std::vector<int32_t>> clean_prompts, corrupted_prompts;
  for (size_t i = 0; i < clean.examples.size(); ++i) {
    CHECK(pairs.corrupted.examples[i].tokens != clean.examples[i].tokens);
    CHECK(pairs.corrupted.examples[i].group == clean.examples[i].group);
    clean_prompts.insert(clean.examples[i].tokens);
    corrupted_prompts.insert(pairs.corrupted.examples[i].tokens);
  }
  CHECK(clean_prompts == corrupted_prompts);
  CHECK_NOTHROW(discover::check_pairs(pairs));
  const discover::PairedDataset again = discover::pair_within_groups(clean, 9);
  for (size_t i = 0; i < clean.examples.size(); ++i) CHECK(again.corrupted.examples[i].tokens == pairs.corrupted.examples[i].tokens);

  data::Dataset lonely = clean;
  lonely.examples.resize(6);  // the second group keeps one prompt
  CHECK_THROWS_WITH(discover::pair_within_groups(lonely, 9), Catch::Contains("'len7' has a single prompt"));
  discover::PairedDataset broken = pairs;
  broken.corrupted.examples[2].tokens.push_back(1);
  CHECK_THROWS_WITH(discover::check_pairs(broken), Catch::Contains("prompt 2"));
}

TEST_CASE("batches hold one group each and at most the batch size", "[discover][pairs]") {
  const data::Dataset dataset = test::synthetic_prompts(5, 101, 4);
  const std::vector<discover::Batch> batches = discover::make_batches(dataset, 2);
  REQUIRE(batches.size() == 6);  // 5 prompts per group: 2 + 2 + 1, twice
  std::set<int> seen;
  for (const auto& batch : batches) {
    CHECK(batch.examples.size() <= 2);
    for (int index : batch.examples) {
      CHECK(dataset.examples[index].group == dataset.examples[batch.examples[0]].group);
      CHECK(static_cast<int>(dataset.examples[index].tokens.size()) == batch.positions);
      seen.insert(index);
    }
  }
  CHECK(seen.size() == 10);
  CHECK(discover::batch_tokens(dataset, batches[0]).size() == 2 * 6);
  CHECK(discover::resolve_position(dataset.schema, batches[0], "END") == 5);
  CHECK(discover::resolve_position(dataset.schema, batches.back(), "END") == 6);
  CHECK_FALSE(discover::resolve_position(dataset.schema, batches[0], "").has_value());
  CHECK_THROWS_WITH(discover::resolve_position(dataset.schema, batches[0], "ED"), Catch::Contains("did you mean 'END'"));
  data::Dataset mixed = dataset;
  mixed.examples[1].tokens.push_back(0);
  CHECK_THROWS_WITH(discover::make_batches(mixed, 4), Catch::Contains("differ in length"));
}

TEST_CASE("IOI prompts are paired with their p_ABC versions", "[discover][pairs]") {
  const std::filesystem::path model = test::bundled_model_dir();
  if (!std::filesystem::exists(model / "encoder.json") && !std::filesystem::exists(model / "vocab.json"))
    FAIL("GPT-2's tokenizer files are missing from " << model.string() << ": run tools/fetch_tokenizer.sh");
  const io::Tokenizer tokenizer = io::Tokenizer::load(model);
  const discover::PairedDataset pairs = discover::make_paired_dataset("ioi", 40, 3, tokenizer);
  const auto& schema = pairs.clean.schema;
  const int s2 = *schema.position_index("S2");
  const int s2_feature = *schema.feature_index("s2_name");
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    const auto& clean = pairs.clean.examples[i];
    const auto& corrupted = pairs.corrupted.examples[i];
    CHECK(clean.group == corrupted.group);
    REQUIRE(clean.tokens.size() == corrupted.tokens.size());
    CHECK(clean.positions == corrupted.positions);
    for (size_t p = 0; p < clean.tokens.size(); ++p) {
      if (static_cast<int>(p) == clean.positions[static_cast<size_t>(s2)])
        CHECK(clean.tokens[p] != corrupted.tokens[p]);  // S replaced by C at S2
      else
        CHECK(clean.tokens[p] == corrupted.tokens[p]);
    }
    CHECK(corrupted.features[static_cast<size_t>(s2_feature)] != clean.features[static_cast<size_t>(s2_feature)]);
  }
  CHECK_THROWS_WITH(discover::make_paired_dataset("ioi", 4, 3, tokenizer, {{"distribution", "abc"}}),
                    Catch::Contains("--option distribution"));
}
