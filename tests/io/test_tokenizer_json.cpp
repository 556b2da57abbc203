// tokenizer.json (Hugging Face's format): GPT-2's own files rewritten as one must tokenize exactly as they do;
// added tokens are split out first (special ones in the raw text, others after normalization), NFC applies
// when asked, both spellings of merges read alike, and what would tokenize differently is refused by name.
#include <catch2/catch.hpp>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "cscrub/io/tokenizer_files.hpp"
#include "test_paths.hpp"

namespace {

namespace fs = std::filesystem;
using cscrub::io::Tokenizer;
using nlohmann::json;
using Ids = std::vector<int32_t>;

// GPT-2's encoder.json + vocab.bpe as a tokenizer.json; merges as "a b" strings or as ["a", "b"] lists.
json gpt2_tokenizer_json(bool merges_as_lists) {
  const fs::path model = cscrub::test::bundled_model_dir();
  REQUIRE(fs::exists(model / "encoder.json"));  // tools/fetch_tokenizer.sh installs them
  const json vocab = json::parse(std::ifstream(model / "encoder.json"));
  json merges = json::array();
  for (const cscrub::io::MergeRule& rule : cscrub::io::read_merge_rules(model / "vocab.bpe")) {
    const std::string left = cscrub::io::bytes_to_byte_level(rule.left), right = cscrub::io::bytes_to_byte_level(rule.right);
    merges.push_back(merges_as_lists ? json::array({left, right}) : json(left + " " + right));
  }
  return {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", json::array()},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
          {"post_processor", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}}},
          {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}}},
          {"model",
           {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", ""},
            {"end_of_word_suffix", ""}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", merges}}}};
}

fs::path write_tokenizer(const std::string& name, const json& contents) {
  const fs::path dir = cscrub::test::scratch_dir("tokenizer-json-" + name);
  std::ofstream(dir / "tokenizer.json") << contents.dump();
  return dir;
}

std::vector<std::string> edge_case_texts() {
  const json cases = json::parse(std::ifstream(cscrub::test::source_dir() / "tests" / "io" / "tokenizer_cases" / "edge_cases.json"));
  std::vector<std::string> texts;
  for (const auto& [group, list] : cases.items())
    for (const json& text : list) texts.push_back(text.get<std::string>());
  return texts;
}

const Tokenizer& gpt2() {
  static const Tokenizer tokenizer = Tokenizer::load(cscrub::test::bundled_model_dir());
  return tokenizer;
}

Ids concat(std::initializer_list<Ids> parts) {
  Ids ids;
  for (const Ids& part : parts) ids.insert(ids.end(), part.begin(), part.end());
  return ids;
}

}  // namespace

TEST_CASE("tokenizer.json: GPT-2's files as a tokenizer.json give GPT-2's ids", "[tokenizer][tokenizer_json]") {
  const bool lists = GENERATE(false, true);
  INFO((lists ? "merges as [\"a\", \"b\"] lists" : "merges as \"a b\" strings"));
  const fs::path dir = write_tokenizer(lists ? "gpt2-lists" : "gpt2-strings", gpt2_tokenizer_json(lists));
  const Tokenizer from_json = Tokenizer::load(dir);  // a directory with tokenizer.json only
  CHECK(from_json.vocab_size() == gpt2().vocab_size());
  const std::vector<std::string> texts = edge_case_texts();
  REQUIRE(texts.size() > 100);
  size_t differing = 0;
  for (const std::string& text : texts) {
    const Ids expected = gpt2().encode(text), ids = from_json.encode(text);
    if (ids != expected && ++differing <= 3) WARN("differs on " << json(text).dump());
    CHECK(from_json.decode(ids) == text);
  }
  CHECK(differing == 0);
}

TEST_CASE("tokenizer.json: added tokens are split out first, and NFC applies before the BPE", "[tokenizer][tokenizer_json]") {
  json contents = gpt2_tokenizer_json(false);
  const int32_t extra = gpt2().vocab_size();  // an added token outside the model's vocabulary
  contents["added_tokens"] = json::array(
      {{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false}, {"single_word", false},
        {"lstrip", false}, {"rstrip", false}},
       {{"id", extra}, {"content", "   "}, {"special", false}, {"normalized", true}, {"single_word", false},
        {"lstrip", false}, {"rstrip", false}}});
  contents["normalizer"] = {{"type", "NFC"}};
  const Tokenizer tokenizer = Tokenizer::load(write_tokenizer("added", contents));
  CHECK(tokenizer.vocab_size() == extra + 1);
  const auto& plain = gpt2();
  // GPT-2's own encoder reads <|endoftext|> as text; Hugging Face's tokenizer.json makes it the special token.
  CHECK(plain.encode("Hello<|endoftext|>World") != concat({plain.encode("Hello"), {50256}, plain.encode("World")}));
  CHECK(tokenizer.encode("Hello<|endoftext|>World") == concat({plain.encode("Hello"), {50256}, plain.encode("World")}));
  CHECK(tokenizer.encode("<|endoftext|><|endoftext|>") == Ids{50256, 50256});
  // The added run of three spaces is cut out wherever it occurs, leftmost first; the rest goes through the BPE.
  CHECK(tokenizer.encode("a   b") == concat({plain.encode("a"), {extra}, plain.encode("b")}));
  CHECK(tokenizer.encode("a      b") == concat({plain.encode("a"), {extra, extra}, plain.encode("b")}));
  CHECK(tokenizer.encode("a    b") == concat({plain.encode("a"), {extra}, plain.encode(" b")}));
  // NFC: "e" + combining acute (U+0301) is tokenized as the composed "é" (U+00E9).
  CHECK(tokenizer.encode("caf\x65\xcc\x81") == plain.encode("caf\xc3\xa9"));
  CHECK(plain.encode("caf\x65\xcc\x81") != plain.encode("caf\xc3\xa9"));
  CHECK(tokenizer.decode(Ids{50256, extra}) == "<|endoftext|>   ");
  CHECK(tokenizer.token_text(extra) == "   ");

  SECTION("add_prefix_space puts a space before each piece that lacks one") {
    contents["pre_tokenizer"]["add_prefix_space"] = true;
    const Tokenizer prefixed = Tokenizer::load(write_tokenizer("prefix", contents));
    CHECK(prefixed.encode("Hello") == plain.encode(" Hello"));
    CHECK(prefixed.encode("Hi<|endoftext|>there") == concat({plain.encode(" Hi"), {50256}, plain.encode(" there")}));
  }
  SECTION("use_regex false leaves each piece one word") {
    contents["pre_tokenizer"]["use_regex"] = false;
    const Tokenizer whole = Tokenizer::load(write_tokenizer("no-regex", contents));
    CHECK(whole.encode("ab") == plain.encode("ab"));
    CHECK(whole.decode(whole.encode("Hello world")) == "Hello world");
  }
}

TEST_CASE("tokenizer.json: what would tokenize differently is refused by name", "[tokenizer][tokenizer_json]") {
  const json valid = gpt2_tokenizer_json(false);
  struct Fault {
    std::string what;
    std::function<void(json&)> change;
    std::string message;
  };
  const std::vector<Fault> faults = {
      {"WordPiece", [](json& c) { c["model"]["type"] = "WordPiece"; }, "model type \"WordPiece\" is not supported"},
      {"dropout", [](json& c) { c["model"]["dropout"] = 0.1; }, "model: 'dropout' is 0.1"},
      {"suffix", [](json& c) { c["model"]["end_of_word_suffix"] = "</w>"; }, "'end_of_word_suffix' is \"</w>\""},
      {"byte fallback", [](json& c) { c["model"]["byte_fallback"] = true; }, "'byte_fallback' is true"},
      {"lowercase", [](json& c) { c["normalizer"] = {{"type", "Lowercase"}}; }, "normalizer \"Lowercase\" is not supported"},
      {"metaspace", [](json& c) { c["pre_tokenizer"] = {{"type", "Metaspace"}}; }, "pre_tokenizer \"Metaspace\" is not supported"},
      {"lstrip", [](json& c) {
         c["added_tokens"] = json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}, {"lstrip", true}}});
       }, "added_tokens[0]: 'lstrip' is true"},
      {"bad merge", [](json& c) { c["model"]["merges"][3] = "Ġt"; }, "model.merges[3]: expected two tokens"},
      // 50,256 tokens, the largest id 50,256: refused by the bound on ids, before the hole at 0 is seen.
      {"missing id", [](json& c) { c["model"]["vocab"].erase("!"); }, "ids must run from 0 to the number of tokens - 1"},
      // Ids 1 to 50,257 and an added token besides: within the bound, but no token has id 0.
      {"hole in the ids", [](json& c) {
         c["model"]["vocab"]["!"] = 50257;
         c["added_tokens"] = json::array({{{"id", 50256}, {"content", "<|endoftext|>"}, {"special", true}}});
       }, "no token has id 0"},
      // Refused before 16 million strings are allocated for it (half a GB from a one-line change).
      {"id beyond the tokens", [](json& c) { c["model"]["vocab"]["Ġt"] = 16777215; },
       "token \"Ġt\" has id 16777215, not an id from 0 to 50256"},
      {"unknown merge token", [](json& c) { c["model"]["merges"].push_back("Ġ zzzzqqq"); },
       "needs the token \"Ġzzzzqqq\""},
  };
  for (const Fault& fault : faults) {
    DYNAMIC_SECTION(fault.what) {
      json broken = valid;
      fault.change(broken);
      const fs::path dir = write_tokenizer("fault", broken);
      CHECK_THROWS_WITH(Tokenizer::load(dir), Catch::Contains((dir / "tokenizer.json").string()) &&
                                                  Catch::Contains(fault.message));
    }
  }
}
