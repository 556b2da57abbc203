// Prompt pairs from the user's JSON Lines file: ids and text alike, every bad line refused with its file and
// line, and the pairs usable wherever generated pairs are (batches by length, the END position).
#include <catch2/catch.hpp>
#include <filesystem>
#include <sstream>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/pair_file.hpp"
#include "cscrub/error.hpp"
#include "test_paths.hpp"

using namespace cscrub;

namespace {

engine::ModelConfig gpt2_like_config() {
  engine::ModelConfig config;
  config.n_layer = 1;
  config.n_head = 1;
  config.d_model = 8;
  config.d_mlp = 32;
  config.n_ctx = 8;
  config.vocab_size = 50257;
  return config;
}

const io::Tokenizer& gpt2_tokenizer() {
  static const io::Tokenizer tokenizer = [] {
    const std::filesystem::path model = test::bundled_model_dir();
    if (!std::filesystem::exists(model / "encoder.json") && !std::filesystem::exists(model / "vocab.json"))
      FAIL("GPT-2's tokenizer files are missing from " << model.string() << ": run tools/fetch_tokenizer.sh");
    return io::Tokenizer::load(model);
  }();
  return tokenizer;
}

discover::PairedDataset read(const std::string& text, const io::Tokenizer* tokenizer = &gpt2_tokenizer()) {
  std::istringstream in(text);
  return discover::read_pairs(in, "pairs.jsonl", gpt2_like_config(), tokenizer);
}

}  // namespace

TEST_CASE("a pair file gives ids and texts, grouped by length, with END at the last token", "[discover][pairs]") {
  const io::Tokenizer& tokenizer = gpt2_tokenizer();
  const discover::PairedDataset pairs = read(
      "{\"clean\": [464, 3290, 318], \"corrupted\": [464, 3797, 318], \"answer\": 1049, \"distractor\": 5044}\n"
      "\n"
      "{\"clean\": \"When Mary and John went\", \"corrupted\": \"When Alice and Bob went\", \"answer\": \" to\", "
      "\"distractor\": 284}\n"
      "{\"distractor\": 0, \"answer\": 50256, \"corrupted\": [50256, 1], \"clean\": [50256, 2]}\n");
  REQUIRE(pairs.clean.examples.size() == 3);
  REQUIRE(pairs.corrupted.examples.size() == 3);
  CHECK(pairs.clean.schema.task == "pairs");
  CHECK(pairs.clean.schema.positions == std::vector<std::string>{"END"});

  const auto& first = pairs.clean.examples[0];
  CHECK(first.tokens == std::vector<int32_t>{464, 3290, 318});
  CHECK(pairs.corrupted.examples[0].tokens == std::vector<int32_t>{464, 3797, 318});
  CHECK(first.answer == 1049);
  CHECK(first.distractor == 5044);
  CHECK(first.positions == std::vector<int>{2});
  CHECK(first.group == "len3");
  CHECK(first.text == tokenizer.decode(first.tokens));

  const auto& second = pairs.clean.examples[1];
  CHECK(second.tokens == tokenizer.encode("When Mary and John went"));
  CHECK(pairs.corrupted.examples[1].tokens == tokenizer.encode("When Alice and Bob went"));
  CHECK(second.answer == *tokenizer.single_token(" to"));
  CHECK(second.text == "When Mary and John went");
  CHECK(pairs.corrupted.examples[1].answer == second.answer);  // the labels are the clean prompt's

  CHECK(pairs.clean.examples[2].group == "len2");
  CHECK_NOTHROW(discover::check_pairs(pairs));
  const std::vector<discover::Batch> batches = discover::make_batches(pairs.clean, 8);
  CHECK(batches.size() == 3);  // lengths 3, 5 and 2: one batch each
  CHECK(discover::resolve_position(pairs.clean.schema, batches[1], "END") == static_cast<int>(second.tokens.size()) - 1);
}

TEST_CASE("a pair file of ids needs no tokenizer", "[discover][pairs]") {
  const discover::PairedDataset pairs =
      read("{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", nullptr);
  CHECK(pairs.clean.examples[0].text == "[1,2]");
  CHECK_THROWS_WITH(read("{\"clean\": \"a b\", \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", nullptr),
                    Catch::Contains("pairs.jsonl:1: 'clean' is a text, but the model has no tokenizer files"));
}

TEST_CASE("every bad line of a pair file is named with its file, line and problem", "[discover][pairs]") {
  const std::string good = "{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}\n";
  struct Case {
    std::string line, message;
  };
  const std::vector<Case> cases = {
      {"{\"clean\": [1, 2, 3], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}",
       "the clean prompt has 3 tokens and the corrupted one 2"},
      {"{\"clean\": \"When Mary\", \"corrupted\": \"When Zyxquoria\", \"answer\": 5, \"distractor\": 6}",
       "the clean prompt has 2 tokens and the corrupted one 5"},
      {"{\"clean\": [1, 50257], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}",
       "'clean' holds token id 50257, outside the model's vocabulary (0-50256)"},
      {"{\"clean\": [1, -1], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", "holds token id -1"},
      {"{\"clean\": [1, 4294967298], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", "holds token id 4294967298"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 99999, \"distractor\": 6}", "'answer' holds token id 99999"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": \" Mary and\", \"distractor\": 6}",
       "'answer' is \" Mary and\", which is 2 tokens, not one"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": \"\"}", "which is 0 tokens, not one"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5}", "missing field 'distractor'"},
      {"{\"clean\": [1, 2], \"corupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", "unknown field 'corupted' (did you mean 'corrupted'?)"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6, \"answer\": 7}", "field 'answer' appears twice"},
      {"{\"clean\": [1, 2.5], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", "'clean' holds 2.5, not a token id"},
      {"{\"clean\": {\"ids\": [1]}, \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}",
       "'clean' must be a text or an array of token ids"},
      {"{\"clean\": [], \"corrupted\": [], \"answer\": 5, \"distractor\": 6}", "'clean' is empty"},
      {"{\"clean\": [1,2,3,4,5,6,7,8,9], \"corrupted\": [1,2,3,4,5,6,7,8,9], \"answer\": 5, \"distractor\": 6}",
       "9 tokens, more than the model's context of 8"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4], \"answer\": true, \"distractor\": 6}",
       "'answer' must be a token id or a one-token text, not true"},
      {"[1, 2]", "not a JSON object"},
      {"{\"clean\": [1, 2], \"corrupted\": [3, 4]", "not a JSON object: "},
      {"{\"clean\": [[[[[[1]]]]]], \"corrupted\": [3, 4], \"answer\": 5, \"distractor\": 6}", "nested more than 4 levels"},
  };
  for (const Case& c : cases) {
    INFO(c.line);
    try {
      read(good + "\n" + c.line + "\n" + good);
      FAIL("no error for a bad line");
    } catch (const Error& error) {
      const std::string message = error.what();
      CHECK_THAT(message, Catch::StartsWith("pairs.jsonl:3: "));
      CHECK_THAT(message, Catch::Contains(c.message));
      CHECK(message.find('\n') == std::string::npos);
    }
  }
  CHECK_THROWS_WITH(read(""), Catch::Contains("pairs.jsonl: no pairs (the file is empty)"));
  CHECK_THROWS_WITH(read("\n  \n"), Catch::Contains("no pairs"));
  CHECK_THROWS_WITH(discover::read_pair_file(test::scratch_dir("no-pairs") / "absent.jsonl", gpt2_like_config(), nullptr),
                    Catch::Contains("absent.jsonl: cannot open the pair file"));
}
