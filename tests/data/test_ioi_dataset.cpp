// The IOI dataset: the paper's templates, vocabulary and orders; positions that really point at the named
// tokens; aligned groups; the p_ABC distribution; reproducibility; errors that name the bad word.
#include <catch2/catch.hpp>
#include <fstream>
#include <set>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

namespace {

// The paper's 15 BABA templates (Easy-Transformer's ioi_dataset.py), written out again here as the
// expectation the generator is held to.
const std::vector<std::string> kPaperBaba = {
    "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a lot of fun at the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] were working at the [PLACE]. [B] decided to give a [OBJECT] to [A]",
    "Then, [B] and [A] were thinking about going to the [PLACE]. [B] wanted to give a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument, and afterwards [B] said to [A]",
    "After [B] and [A] went to the [PLACE], [B] gave a [OBJECT] to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give it to [A]",
    "When [B] and [A] got a [OBJECT] at the [PLACE], [B] decided to give the [OBJECT] to [A]",
    "While [B] and [A] were working at the [PLACE], [B] gave a [OBJECT] to [A]",
    "While [B] and [A] were commuting to the [PLACE], [B] gave a [OBJECT] to [A]",
    "After the lunch, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Afterwards, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]",
    "Then, [B] and [A] had a long argument. Afterwards [B] said to [A]",
    "The [PLACE] [B] and [A] went to had a [OBJECT]. [B] gave it to [A]",
    "Friends [B] and [A] found a [OBJECT] at the [PLACE]. [B] gave it to [A]",
};

void replace_first(std::string& text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
}

// The prompt the paper's construction gives for an example's features: the ABBA twin names IO first in
// the first clause; S2 gets s2_name; the final " [A]" is cut off.
std::string expected_prompt(const data::Dataset& dataset, const data::Example& example) {
  const std::string& id = feature(dataset, example, "template");
  REQUIRE(id.rfind("paper:", 0) == 0);
  std::string text = kPaperBaba.at(std::stoul(id.substr(6)));
  if (feature(dataset, example, "order") == "ABBA") replace_first(text, "[B] and [A]", "[A] and [B]");
  text.resize(text.size() - 4);
  replace_first(text, "[B]", feature(dataset, example, "s_name"));
  replace_first(text, "[B]", feature(dataset, example, "s2_name"));
  replace_all(text, "[A]", feature(dataset, example, "io_name"));
  replace_all(text, "[PLACE]", feature(dataset, example, "place"));
  replace_all(text, "[OBJECT]", feature(dataset, example, "object"));
  return text;
}

const data::Dataset& paper_dataset() {  // 3,000 prompts, as the bundled-model test uses
  static const data::Dataset dataset = data::make_dataset("ioi", 3000, 11, gpt2_tokenizer());
  return dataset;
}

}  // namespace

TEST_CASE("IOI prompts are the paper's templates filled with the drawn words", "[data][ioi]") {
  const auto& dataset = paper_dataset();
  REQUIRE(dataset.examples.size() == 3000);
  for (const auto& example : dataset.examples) {
    REQUIRE(example.text == expected_prompt(dataset, example));
    REQUIRE(gpt2_tokenizer().encode(example.text) == example.tokens);
  }
}

TEST_CASE("IOI named positions point at the named tokens", "[data][ioi]") {
  const auto& dataset = paper_dataset();
  const auto& tokenizer = gpt2_tokenizer();
  for (const auto& example : dataset.examples) {
    const auto token_at = [&](const char* label) {
      return tokenizer.token_text(example.tokens.at(static_cast<size_t>(position(dataset, example, label))));
    };
    REQUIRE(token_at("IO") == " " + feature(dataset, example, "io_name"));
    REQUIRE(token_at("S1") == " " + feature(dataset, example, "s_name"));
    REQUIRE(token_at("S2") == " " + feature(dataset, example, "s2_name"));
    REQUIRE(position(dataset, example, "S1+1") == position(dataset, example, "S1") + 1);
    REQUIRE(position(dataset, example, "END") == static_cast<int>(example.tokens.size()) - 1);
    REQUIRE(tokenizer.token_text(example.answer) == " " + feature(dataset, example, "io_name"));
    REQUIRE(tokenizer.token_text(example.distractor) == " " + feature(dataset, example, "s_name"));
    const int io = position(dataset, example, "IO"), s1 = position(dataset, example, "S1");
    const int s2 = position(dataset, example, "S2");
    if (feature(dataset, example, "order") == "BABA")
      REQUIRE((s1 < io && io < s2));
    else
      REQUIRE((io < s1 && s1 < s2));
    REQUIRE(feature(dataset, example, "s_name") == feature(dataset, example, "s2_name"));
    REQUIRE(feature(dataset, example, "io_name") != feature(dataset, example, "s_name"));
  }
}

TEST_CASE("IOI mixed order is half ABBA, half BABA, and covers the whole vocabulary", "[data][ioi]") {
  const auto& dataset = paper_dataset();
  std::set<std::string> io_names, s_names, places, objects, template_orders;
  int abba = 0;
  for (const auto& example : dataset.examples) {
    io_names.insert(feature(dataset, example, "io_name"));
    s_names.insert(feature(dataset, example, "s_name"));
    places.insert(feature(dataset, example, "place"));
    objects.insert(feature(dataset, example, "object"));
    template_orders.insert(feature(dataset, example, "template") + feature(dataset, example, "order"));
    abba += feature(dataset, example, "order") == "ABBA";
  }
  CHECK(abba == 1500);
  CHECK(io_names.size() == 99);
  CHECK(s_names.size() == 99);
  CHECK(places.size() == 8);
  CHECK(objects.size() == 8);
  CHECK(template_orders.size() == 30);
}

TEST_CASE("IOI groups line up: same group, same length, same positions, same template", "[data][ioi]") {
  const auto& dataset = paper_dataset();
  std::map<std::string, const data::Example*> first;
  for (const auto& example : dataset.examples) {
    auto [it, inserted] = first.emplace(example.group, &example);
    if (inserted) continue;
    REQUIRE(it->second->tokens.size() == example.tokens.size());
    REQUIRE(it->second->positions == example.positions);
    REQUIRE(feature(dataset, *it->second, "template") == feature(dataset, example, "template"));
    REQUIRE(feature(dataset, *it->second, "order") == feature(dataset, example, "order"));
  }
  CHECK(first.size() == 30);  // single-token words: one layout per template and order
  CHECK_NOTHROW(data::check_consistency(dataset, "paper dataset"));
}

TEST_CASE("every IOI feature and position is populated", "[data][ioi]") {
  for (const char* distribution : {"ioi", "abc"}) {
    const auto dataset = data::make_dataset("ioi", 200, 3, gpt2_tokenizer(), {{"distribution", distribution}});
    for (const auto& example : dataset.examples) {
      REQUIRE(example.features.size() == dataset.schema.features.size());
      REQUIRE(example.positions.size() == dataset.schema.positions.size());
      for (const auto& value : example.features) REQUIRE_FALSE(value.empty());
      for (int p : example.positions) REQUIRE((p >= 0 && p < static_cast<int>(example.tokens.size())));
      REQUIRE_FALSE(example.group.empty());
    }
  }
}

TEST_CASE("p_ABC: three distinct names, otherwise the twin of the IOI prompt with the same seed", "[data][ioi]") {
  const auto clean = data::make_dataset("ioi", 500, 9, gpt2_tokenizer());
  const auto abc = data::make_dataset("ioi", 500, 9, gpt2_tokenizer(), {{"distribution", "abc"}});
  const auto& tokenizer = gpt2_tokenizer();
  for (size_t i = 0; i < abc.examples.size(); ++i) {
    const auto& corrupted = abc.examples[i];
    const auto& original = clean.examples[i];
    const std::string io = feature(abc, corrupted, "io_name"), s1 = feature(abc, corrupted, "s_name"),
                      s2 = feature(abc, corrupted, "s2_name");
    REQUIRE((io != s1 && io != s2 && s1 != s2));
    REQUIRE(tokenizer.token_text(corrupted.tokens.at(static_cast<size_t>(position(abc, corrupted, "S2")))) == " " + s2);
    REQUIRE(corrupted.text == expected_prompt(abc, corrupted));
    for (const char* same : {"io_name", "s_name", "template", "order", "place", "object"})
      REQUIRE(feature(abc, corrupted, same) == feature(clean, original, same));
    REQUIRE(corrupted.positions == original.positions);
    REQUIRE(corrupted.group == original.group);
  }
}

TEST_CASE("IOI order and template options", "[data][ioi]") {
  for (const char* order : {"baba", "abba"}) {
    const auto dataset = data::make_dataset("ioi", 100, 4, gpt2_tokenizer(), {{"order", order}});
    const std::string expected = std::string(order) == "baba" ? "BABA" : "ABBA";
    for (const auto& example : dataset.examples) REQUIRE(feature(dataset, example, "order") == expected);
  }
  for (const char* set : {"long", "late_ios", "early_ios"}) {
    const auto dataset = data::make_dataset("ioi", 100, 4, gpt2_tokenizer(), {{"templates", set}});
    for (const auto& example : dataset.examples) {
      REQUIRE(feature(dataset, example, "template").rfind(std::string(set) + ":", 0) == 0);
      REQUIRE(gpt2_tokenizer().token_text(example.tokens.at(static_cast<size_t>(position(dataset, example, "S2")))) ==
              " " + feature(dataset, example, "s2_name"));
    }
    CHECK_NOTHROW(data::check_consistency(dataset, set));
  }
}

TEST_CASE("IOI datasets are byte-for-byte reproducible from the seed", "[data][ioi][reproducible]") {
  const auto first = jsonl_bytes(data::make_dataset("ioi", 300, 5, gpt2_tokenizer()));
  const auto second = jsonl_bytes(data::make_dataset("ioi", 300, 5, gpt2_tokenizer()));
  CHECK(first == second);
  CHECK(first != jsonl_bytes(data::make_dataset("ioi", 300, 6, gpt2_tokenizer())));
}

TEST_CASE("IOI user errors name the problem", "[data][ioi][errors]") {
  const auto& tokenizer = gpt2_tokenizer();
  CHECK_THROWS_WITH(data::make_dataset("ioi", 10, 1, tokenizer, {{"ordr", "abba"}}),
                    Catch::Contains("'ordr'") && Catch::Contains("did you mean 'order'"));
  CHECK_THROWS_WITH(data::make_dataset("ioi", 10, 1, tokenizer, {{"order", "bab"}}),
                    Catch::Contains("order='bab'") && Catch::Contains("did you mean 'baba'"));
  CHECK_THROWS_WITH(data::make_dataset("ioi", 0, 1, tokenizer), Catch::Contains("at least one"));
  CHECK_THROWS_WITH(data::make_dataset("ioi", 10, 1, tokenizer, {{"vocabulary", "/nonexistent/vocab.toml"}}),
                    Catch::Contains("/nonexistent/vocab.toml"));

  // A name that is several tokens: the error names the word, the file and its line.
  std::ifstream in(source_dir() / "datasets" / "ioi_paper_vocabulary.toml");
  const std::string original((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string contents = original;
  const size_t at = contents.find("\"Mary\"");
  REQUIRE(at != std::string::npos);
  const int line = 1 + static_cast<int>(std::count(contents.begin(), contents.begin() + static_cast<long>(at), '\n'));
  contents.replace(at, 6, "\"Xylophonist\"");
  const auto file = scratch_dir("ioi-vocabulary") / "bad.toml";
  std::ofstream(file) << contents;
  CHECK_THROWS_WITH(data::make_dataset("ioi", 10, 1, tokenizer, {{"vocabulary", file.string()}}),
                    Catch::Contains("bad.toml:" + std::to_string(line) + ":") && Catch::Contains("'Xylophonist'") &&
                        Catch::Contains("single GPT-2 token"));

  // A template that does not name S twice, and one whose slot is glued to the previous word.
  const std::string first_template = "Then, [B] and [A] went to the [PLACE]. [B] gave a [OBJECT] to [A]";
  const auto broken = [&](const std::string& replacement, const std::string& name) {
    std::string text = original;
    const size_t template_at = text.find(first_template);
    REQUIRE(template_at != std::string::npos);
    text.replace(template_at, first_template.size(), replacement);
    const auto path = scratch_dir("ioi-templates") / name;
    std::ofstream(path) << text;
    return path.string();
  };
  CHECK_THROWS_WITH(
      data::make_dataset(
          "ioi", 10, 1, tokenizer,
          {{"vocabulary", broken("Then, [B] and [A] went to the [PLACE]. Bob gave a [OBJECT] to [A]", "one_s.toml")}}),
      Catch::Contains("one_s.toml:") && Catch::Contains("[B] twice"));
  CHECK_THROWS_WITH(
      data::make_dataset(
          "ioi", 300, 1, tokenizer,
          {{"vocabulary", broken("Then, [B] and [A] went to the [PLACE].[B] gave a [OBJECT] to [A]", "glued.toml")}}),
      Catch::Contains("glued.toml:") && Catch::Contains("is not preceded by a space"));
}
