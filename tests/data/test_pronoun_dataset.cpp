// The gendered-pronoun dataset: the name sits at NAME, the answer agrees with its gender.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

TEST_CASE("pronoun prompts: name at NAME, agreeing pronoun as answer", "[data][pronoun]") {
  const auto dataset = data::make_dataset("pronoun", 1000, 13, gpt2_tokenizer());
  const auto& tokenizer = gpt2_tokenizer();
  int female = 0;
  std::set<std::string> templates;
  for (const auto& example : dataset.examples) {
    const int name = position(dataset, example, "NAME");
    REQUIRE(tokenizer.token_text(example.tokens.at(static_cast<size_t>(name))) ==
            " " + feature(dataset, example, "name"));
    REQUIRE(position(dataset, example, "NAME+1") == name + 1);
    REQUIRE(position(dataset, example, "END") == static_cast<int>(example.tokens.size()) - 1);
    const bool is_female = feature(dataset, example, "gender") == "female";
    female += is_female;
    REQUIRE(tokenizer.token_text(example.answer) == (is_female ? " she" : " he"));
    REQUIRE(tokenizer.token_text(example.distractor) == (is_female ? " he" : " she"));
    REQUIRE(tokenizer.encode(example.text) == example.tokens);
    for (const auto& value : example.features) REQUIRE_FALSE(value.empty());
    templates.insert(feature(dataset, example, "template"));
  }
  CHECK((female > 430 && female < 570));  // drawn 50/50
  CHECK(templates.size() == 8);
  CHECK_NOTHROW(data::check_consistency(dataset, "pronoun"));
}

TEST_CASE("pronoun datasets are byte-for-byte reproducible from the seed", "[data][pronoun][reproducible]") {
  const auto first = jsonl_bytes(data::make_dataset("pronoun", 200, 5, gpt2_tokenizer()));
  CHECK(first == jsonl_bytes(data::make_dataset("pronoun", 200, 5, gpt2_tokenizer())));
  CHECK(first != jsonl_bytes(data::make_dataset("pronoun", 200, 6, gpt2_tokenizer())));
  CHECK_THROWS_WITH(data::make_dataset("pronoun", 5, 1, gpt2_tokenizer(), {{"order", "abba"}}),
                    Catch::Contains("task 'pronoun' has no option 'order'"));
}

TEST_CASE("pronoun vocabulary errors name the file and line", "[data][pronoun][errors]") {
  const auto file = scratch_dir("pronoun-vocabulary") / "pronoun.toml";
  std::ofstream(file) << "male_names = [\"John\"]\nfemale_names = [\"Mary\"]\n"
                         "templates = [\n  \"Then [NAME] said that\",\n  \"Then someone said that\",\n]\n"
                         "pronouns = [\"he\", \"she\"]\n";
  CHECK_THROWS_WITH(data::make_dataset("pronoun", 5, 1, gpt2_tokenizer(), {{"vocabulary", file.string()}}),
                    Catch::Contains("pronoun.toml:5:") && Catch::Contains("[NAME] exactly once"));
}
