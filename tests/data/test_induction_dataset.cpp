// The induction dataset: a sequence of distinct pool words, repeated; the prompt stops inside the repeat.
#include <catch2/catch.hpp>
#include <set>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

TEST_CASE("induction positions point at the earlier occurrence and the answer", "[data][induction]") {
  const auto dataset = data::make_dataset("induction", 500, 21, gpt2_tokenizer());
  const auto& tokenizer = gpt2_tokenizer();
  std::set<std::string> groups;
  for (const auto& example : dataset.examples) {
    const auto& tokens = example.tokens;
    const auto at = [&](const char* label) {
      return tokens.at(static_cast<size_t>(position(dataset, example, label)));
    };
    const int length = position(dataset, example, "REPEAT_START");
    const int end = position(dataset, example, "END");
    REQUIRE(length == 10);  // the default sequence length
    REQUIRE(end == static_cast<int>(tokens.size()) - 1);
    REQUIRE(end >= length);  // the prompt stops inside the repeat
    // The first half holds distinct tokens, and the second half repeats it.
    REQUIRE(std::set<int32_t>(tokens.begin(), tokens.begin() + length).size() == static_cast<size_t>(length));
    for (int i = length; i <= end; ++i)
      REQUIRE(tokens[static_cast<size_t>(i)] == tokens[static_cast<size_t>(i - length)]);
    REQUIRE(at("PREV_OCC") == at("END"));
    REQUIRE(position(dataset, example, "PREV_OCC") < length);
    REQUIRE(position(dataset, example, "PREV_OCC+1") == position(dataset, example, "PREV_OCC") + 1);
    REQUIRE(at("PREV_OCC+1") == example.answer);
    // The distractor is another token of the same sequence.
    REQUIRE(example.distractor != example.answer);
    REQUIRE(std::find(tokens.begin(), tokens.begin() + length, example.distractor) != tokens.begin() + length);
    // Features are the words at those places.
    REQUIRE(" " + feature(dataset, example, "answer") == tokenizer.token_text(example.answer));
    REQUIRE(" " + feature(dataset, example, "end_token") == tokenizer.token_text(at("END")));
    REQUIRE(" " + feature(dataset, example, "prev_token") ==
            tokenizer.token_text(tokens.at(static_cast<size_t>(end - 1))));
    REQUIRE(" " + feature(dataset, example, "sequence") ==
            tokenizer.decode(std::span(tokens).first(static_cast<size_t>(length))));
    REQUIRE(tokenizer.encode(example.text) == tokens);
    groups.insert(example.group);
  }
  CHECK(groups.size() == 9);  // repeat drawn from 1..9
  CHECK_NOTHROW(data::check_consistency(dataset, "induction"));
}

TEST_CASE("induction options: fixed repeat gives one group, length sets the sequence", "[data][induction]") {
  const auto dataset = data::make_dataset("induction", 50, 2, gpt2_tokenizer(), {{"length", "20"}, {"repeat", "19"}});
  for (const auto& example : dataset.examples) {
    REQUIRE(example.tokens.size() == 39);
    REQUIRE(example.group == dataset.examples.front().group);
    REQUIRE(position(dataset, example, "PREV_OCC+1") == 19);
  }
  CHECK_THROWS_WITH(data::make_dataset("induction", 5, 1, gpt2_tokenizer(), {{"repeat", "10"}}),
                    Catch::Contains("repeat='10'") && Catch::Contains("[1, 9]"));
  CHECK_THROWS_WITH(data::make_dataset("induction", 5, 1, gpt2_tokenizer(), {{"length", "1"}}),
                    Catch::Contains("length='1'"));
  CHECK_THROWS_WITH(data::make_dataset("induction", 5, 1, gpt2_tokenizer(), {{"lenght", "4"}}),
                    Catch::Contains("did you mean 'length'"));
}

TEST_CASE("induction pool words are single tokens from the bundled model's trained id range", "[data][induction]") {
  // The bundled model was trained on induction over ids 1000..1299; datasets/induction.toml promises that.
  const auto dataset = data::make_dataset("induction", 300, 8, gpt2_tokenizer(), {{"length", "40"}});
  for (const auto& example : dataset.examples)
    for (int32_t id : example.tokens) REQUIRE((id >= 1000 && id < 1300));
}

TEST_CASE("induction datasets are byte-for-byte reproducible from the seed", "[data][induction][reproducible]") {
  const auto first = jsonl_bytes(data::make_dataset("induction", 200, 5, gpt2_tokenizer()));
  CHECK(first == jsonl_bytes(data::make_dataset("induction", 200, 5, gpt2_tokenizer())));
  CHECK(first != jsonl_bytes(data::make_dataset("induction", 200, 50, gpt2_tokenizer())));
}
