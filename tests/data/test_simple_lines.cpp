// Datasets written by hand: {"text", "answer", "distractor"} lines get their tokens, END and group derived;
// named positions and features are optional; every missing field is reported in one error.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

namespace {

data::Dataset read_text(const std::string& text, const io::Tokenizer* tokenizer = &gpt2_tokenizer()) {
  std::istringstream in(text);
  return data::read_jsonl(in, "mine.jsonl", tokenizer);
}

std::string error_of(const std::string& text, const io::Tokenizer* tokenizer = &gpt2_tokenizer()) {
  try {
    read_text(text, tokenizer);
  } catch (const Error& error) {
    return std::string(error.what()) + " | " + error.hint();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("simple lines: text, answer and distractor are enough", "[data][jsonl][simple]") {
  const auto dataset = read_text(
      "{\"text\": \"Then, Mary and John went to the store. John gave a drink to\", \"answer\": \" Mary\", "
      "\"distractor\": \" John\"}\n"
      "\n"
      "{\"text\": \"Then, Anna and Mark went to the park. Mark gave a ball to\", \"answer\": 12899, \"distractor\": "
      "null}\n"
      "{\"text\": \"The cat sat on the\", \"answer\": \" mat\", \"distractor\": \" dog\"}\n");
  CHECK(dataset.schema.task == data::kCustomTask);
  CHECK(dataset.schema.positions == std::vector<std::string>{"END"});
  CHECK(dataset.schema.features.empty());
  CHECK(dataset.schema.default_metric == "logit_diff");
  REQUIRE(dataset.examples.size() == 3);
  const auto& first = dataset.examples[0];
  CHECK(first.tokens == gpt2_tokenizer().encode(first.text));
  CHECK(first.answer == gpt2_tokenizer().encode(" Mary").at(0));
  CHECK(first.distractor == gpt2_tokenizer().encode(" John").at(0));
  CHECK(first.positions == std::vector<int>{14});
  CHECK(dataset.examples[1].answer == 12899);
  CHECK(dataset.examples[1].distractor == -1);
  // Equal length and positions: one group; another length: another group.
  CHECK(first.group == dataset.examples[1].group);
  CHECK(first.group != dataset.examples[2].group);
  CHECK(dataset.examples[2].group == "custom/5/4");
}

TEST_CASE("simple lines: named positions and features make the custom task's schema", "[data][jsonl][simple]") {
  const auto dataset = read_text(
      "{\"text\": \"Then, Mary and John went to the store. John gave a drink to\", \"answer\": \" Mary\", "
      "\"distractor\": \" John\", \"positions\": {\"S2\": 10, \"IO\": 2}, \"features\": {\"io\": \"Mary\"}}\n"
      "{\"text\": \"Then, Anna and Mark went to the park. Mark gave a ball to\", \"answer\": \" Anna\", "
      "\"distractor\": \" Mark\", \"positions\": {\"IO\": 2, \"S2\": 10, \"END\": 14}, \"features\": {\"io\": "
      "\"Anna\"}, \"group\": \"mine\"}\n");
  CHECK(dataset.schema.positions == std::vector<std::string>{"S2", "IO", "END"});
  CHECK(dataset.schema.features == std::vector<std::string>{"io"});
  CHECK(dataset.examples[0].positions == std::vector<int>{10, 2, 14});
  CHECK(dataset.examples[1].features == std::vector<std::string>{"Anna"});
  CHECK(dataset.examples[0].group == "custom/15/10,2,14");
  CHECK(dataset.examples[1].group == "mine");
}

TEST_CASE("simple lines of a named task give its positions and features", "[data][jsonl][simple]") {
  const auto generated = data::make_dataset("ioi", 4, 3, gpt2_tokenizer());
  std::string lines;
  for (const auto& example : generated.examples) {
    nlohmann::ordered_json line = {{"text", example.text},
                                   {"answer", gpt2_tokenizer().token_text(example.answer)},
                                   {"distractor", example.distractor},
                                   {"task", "ioi"},
                                   {"group", example.group}};
    for (size_t p = 0; p + 1 < generated.schema.positions.size(); ++p)  // END is derived
      line["positions"][generated.schema.positions[p]] = example.positions[p];
    for (size_t f = 0; f < generated.schema.features.size(); ++f)
      line["features"][generated.schema.features[f]] = example.features[f];
    lines += line.dump() + "\n";
  }
  const auto dataset = read_text(lines);
  CHECK(dataset.schema.task == "ioi");
  CHECK(dataset.schema.positions == generated.schema.positions);
  REQUIRE(dataset.examples.size() == generated.examples.size());
  for (size_t i = 0; i < generated.examples.size(); ++i) {
    const auto& a = generated.examples[i];
    const auto& b = dataset.examples[i];
    CHECK((a.tokens == b.tokens && a.answer == b.answer && a.distractor == b.distractor && a.positions == b.positions &&
           a.features == b.features && a.group == b.group));
  }
  // Without S2 and s_name: both named, with the task's lists.
  auto broken = nlohmann::json::parse(lines.substr(0, lines.find('\n')));
  broken["positions"].erase("S2");
  broken["features"].erase("s_name");
  const std::string error = error_of(broken.dump() + "\n");
  CHECK_THAT(error, Catch::Contains("mine.jsonl:1: missing position 'S2', feature 's_name'") &&
                        Catch::Contains("task 'ioi' also needs positions 'IO', 'S1', 'S1+1', 'S2', 'END'"));
}

TEST_CASE("simple lines: every missing field of every line in one error", "[data][jsonl][simple]") {
  const std::string error = error_of(
      "{\"text\": \"a b\", \"answer\": \" c\"}\n"
      "{\"text\": \"a b\", \"answer\": \" c\", \"distractor\": \" d\", \"positions\": {\"X\": 0}}\n"
      "{\"answer\": \" c\"}\n");
  CHECK_THAT(error, Catch::StartsWith("mine.jsonl:1: missing 'distractor', position 'X'; mine.jsonl:3: missing "
                                      "'text', 'distractor', position 'X' |"));
  std::string many;
  for (int i = 0; i < 8; ++i) many += "{\"text\": \"a\"}\n";
  CHECK_THAT(error_of(many), Catch::Contains("mine.jsonl:5: missing 'answer', 'distractor'; and 3 more incomplete lines"));
}

TEST_CASE("simple lines: each bad value names the file and line", "[data][jsonl][simple]") {
  const std::string ok = R"("text": "The cat sat on the", "distractor": " dog")";
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" carpet slippers\"}\n"),
             Catch::Contains("mine.jsonl:1: 'answer' \" carpet slippers\" is 3 tokens, not one"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": 60000}\n"), Catch::Contains("is not a token id of this tokenizer"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": [1]}\n"), Catch::Contains("must be a token's text"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" mat\", \"anwser\": 1}\n"),
             Catch::Contains("mine.jsonl:1: unknown field 'anwser'"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" mat\", \"positions\": {\"X\": 5}}\n"),
             Catch::Contains("position 'X' = 5 is not a token index of the 5-token prompt (0 to 4)"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" mat\", \"positions\": {\"END\": 3}}\n"),
             Catch::Contains("position 'END' must be the last token (4)"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" mat\", \"task\": \"iio\"}\n"), Catch::Contains("did you mean 'ioi'"));
  CHECK_THAT(error_of("{\"text\": \"\", \"answer\": \" mat\", \"distractor\": null}\n"), Catch::Contains("'text' is empty"));
  CHECK_THAT(error_of("{" + ok + ", \"answer\": \" mat\"}\n", nullptr),
             Catch::Contains("mine.jsonl:1: a line without 'tokens' is tokenized, and there is no tokenizer here"));
  // One form per file.
  const std::string generated = jsonl_bytes(data::make_dataset("ioi", 2, 1, gpt2_tokenizer()));
  CHECK_THAT(error_of(generated + "{" + ok + ", \"answer\": \" mat\"}\n"),
             Catch::Contains("mine.jsonl:3: a line without 'tokens' in a file of lines with them"));
}
