// Saving and loading datasets as JSON Lines: a round trip keeps everything; bad files name file and line.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

namespace {

data::Dataset read_text(const std::string& text) {
  std::istringstream in(text);
  return data::read_jsonl(in, "mem.jsonl");
}

// The first line of a small IOI dataset, as JSON, to break in different ways.
nlohmann::json first_line() {
  const std::string bytes = jsonl_bytes(data::make_dataset("ioi", 2, 1, gpt2_tokenizer()));
  return nlohmann::json::parse(bytes.substr(0, bytes.find('\n')));
}

}  // namespace

TEST_CASE("JSONL round trip keeps every field and rewrites the same bytes", "[data][jsonl]") {
  for (const char* task : {"ioi", "induction", "pronoun"}) {
    const auto dataset = data::make_dataset(task, 60, 77, gpt2_tokenizer());
    const auto file = scratch_dir("jsonl") / "dataset.jsonl";
    data::write_jsonl(dataset, gpt2_tokenizer(), file);
    const auto loaded = data::read_jsonl(file);
    CHECK(loaded.schema.task == dataset.schema.task);
    CHECK(loaded.schema.positions == dataset.schema.positions);
    CHECK(loaded.schema.features == dataset.schema.features);
    CHECK(loaded.seed == 77);
    CHECK(loaded.generator == dataset.generator);
    REQUIRE(loaded.examples.size() == dataset.examples.size());
    for (size_t i = 0; i < dataset.examples.size(); ++i) {
      const auto& a = dataset.examples[i];
      const auto& b = loaded.examples[i];
      REQUIRE(a.text == b.text);
      REQUIRE(a.tokens == b.tokens);
      REQUIRE(a.answer == b.answer);
      REQUIRE(a.distractor == b.distractor);
      REQUIRE(a.positions == b.positions);
      REQUIRE(a.features == b.features);
      REQUIRE(a.group == b.group);
    }
    CHECK(jsonl_bytes(loaded) == jsonl_bytes(dataset));
    CHECK_NOTHROW(data::check_tokens(loaded, gpt2_tokenizer(), file.string()));
  }
}

TEST_CASE("JSONL lines carry readable answer strings and named positions", "[data][jsonl]") {
  const auto line = first_line();
  const std::string io_name = line["features"]["io_name"], s_name = line["features"]["s_name"];
  CHECK(line["answer_text"] == " " + io_name);
  CHECK(line["distractor_text"] == " " + s_name);
  CHECK(line["positions"].size() == 5);
  CHECK(line["task"] == "ioi");
  CHECK(line["seed"] == 1);
}

TEST_CASE("JSONL errors name the file, the line and the problem", "[data][jsonl][errors]") {
  const std::string good = first_line().dump();
  CHECK_THROWS_WITH(read_text(good + "\n{not json\n"), Catch::StartsWith("mem.jsonl:2: not a JSON object"));
  CHECK_THROWS_WITH(read_text(""), Catch::Contains("no examples"));
  // A field given twice is refused, not read as whichever came last.
  CHECK_THROWS_WITH(read_text(good + "\n{\"text\": \"a\", \"answer\": \" b\", \"text\": \"c\"}\n"),
                    Catch::StartsWith("mem.jsonl:2: field 'text' appears twice"));

  auto missing = first_line();
  missing.erase("tokens");
  CHECK_THROWS_WITH(read_text(missing.dump()), Catch::StartsWith("mem.jsonl:1: missing field 'tokens'"));

  auto renamed = first_line();
  renamed["positions"]["ENDD"] = renamed["positions"]["END"];
  renamed["positions"].erase("END");
  CHECK_THROWS_WITH(read_text(renamed.dump()),
                    Catch::Contains("no position 'ENDD'") && Catch::Contains("did you mean 'END'"));

  auto lacking = first_line();
  lacking["features"].erase("place");
  CHECK_THROWS_WITH(read_text(lacking.dump()), Catch::Contains("lacks 'place'"));

  auto unknown_task = first_line();
  unknown_task["task"] = "iou";
  CHECK_THROWS_WITH(read_text(unknown_task.dump()),
                    Catch::StartsWith("mem.jsonl:1:") && Catch::Contains("did you mean 'ioi'"));

  auto other_task = first_line();
  other_task["task"] = "pronoun";
  CHECK_THROWS_WITH(read_text(good + "\n" + other_task.dump() + "\n"),
                    Catch::StartsWith("mem.jsonl:2: task 'pronoun' in a dataset of task 'ioi'"));

  auto bad_type = first_line();
  bad_type["answer_id"] = "Mary";
  CHECK_THROWS_WITH(read_text(bad_type.dump()), Catch::Contains("'answer_id' must be a token id"));

  auto outside = first_line();
  outside["positions"]["END"] = 99;
  CHECK_THROWS_WITH(read_text(outside.dump()), Catch::Contains("position END = 99 is outside"));

  auto misaligned = first_line();
  misaligned["positions"]["IO"] = misaligned["positions"]["IO"].get<int>() + 1;
  CHECK_THROWS_WITH(read_text(good + "\n" + misaligned.dump() + "\n"), Catch::Contains("mixes prompts"));

  auto other_tokens = first_line();
  other_tokens["tokens"][0] = 50000;
  const auto loaded = read_text(other_tokens.dump());
  CHECK_THROWS_WITH(data::check_tokens(loaded, gpt2_tokenizer(), "mem.jsonl"),
                    Catch::Contains("does not encode to the listed tokens"));
  other_tokens["tokens"][0] = 60000;
  CHECK_THROWS_WITH(data::check_tokens(read_text(other_tokens.dump()), gpt2_tokenizer(), "mem.jsonl"),
                    Catch::Contains("token id 60000 is outside"));
}
