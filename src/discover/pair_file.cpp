#include "cscrub/discover/pair_file.hpp"

#include <sstream>
#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "cscrub/io/json_lines.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::discover {
namespace {

using json = nlohmann::ordered_json;  // a line as written

const std::vector<std::string> kFields = {"clean", "corrupted", "answer", "distractor"};

data::TaskSchema pairs_schema() {
  return {.task = "pairs",
          .features = {},
          .positions = {"END"},
          .default_metric = "logit_diff",
          .description = "prompt pairs from a file"};
}

// One line's fields, with errors that name the file and line.
class PairLine {
 public:
  PairLine(const json& line, std::string where, const engine::ModelConfig& config, const io::Tokenizer* tokenizer)
      : line_(line), where_(std::move(where)), config_(config), tokenizer_(tokenizer) {
    for (const auto& [key, value] : line.items())
      if (std::find(kFields.begin(), kFields.end(), key) == kFields.end())
        fail("unknown field '" + key + "'" + did_you_mean(key, kFields),
             "a pair has the fields clean, corrupted, answer and distractor");
  }

  std::vector<int32_t> prompt(const char* key) const {
    const json& value = field(key);
    std::vector<int32_t> tokens;
    if (value.is_string()) {
      tokens = encode(key, value.get<std::string>());
    } else if (value.is_array()) {
      for (const json& id : value) {
        if (!id.is_number_integer()) fail(std::string("'") + key + "' holds " + io::json_excerpt(id) + ", not a token id");
        tokens.push_back(token_id(key, id));
      }
    } else {
      fail(std::string("'") + key + "' must be a text or an array of token ids, not " + io::json_excerpt(value));
    }
    if (tokens.empty()) fail(std::string("'") + key + "' is empty");
    if (tokens.size() > static_cast<size_t>(config_.n_ctx))
      fail(std::string("'") + key + "' has " + std::to_string(tokens.size()) + " tokens, more than the model's context of " +
           std::to_string(config_.n_ctx));
    return tokens;
  }

  int32_t token(const char* key) const {
    const json& value = field(key);
    if (value.is_number_integer()) return token_id(key, value);
    if (!value.is_string()) fail(std::string("'") + key + "' must be a token id or a one-token text, not " + io::json_excerpt(value));
    const std::vector<int32_t> tokens = encode(key, value.get<std::string>());
    if (tokens.size() != 1)
      fail(std::string("'") + key + "' is " + io::json_excerpt(value) + ", which is " + std::to_string(tokens.size()) +
               " tokens, not one",
           "give the token id, or a text that is one token (GPT-2 tokens usually start with their space: \" Mary\")");
    return tokens.front();
  }

  [[noreturn]] void fail(const std::string& problem, const std::string& hint = {}) const {
    throw Error(where_ + problem, hint);
  }

 private:
  const json& field(const char* key) const {
    const auto found = line_.find(key);
    if (found == line_.end()) fail("missing field '" + std::string(key) + "'");
    return *found;
  }

  int32_t token_id(const char* key, const json& id) const {
    // Compared before narrowing: 2^32 + 5 must not become token 5.
    const bool in_vocabulary = id.is_number_unsigned() && id.get<uint64_t>() < static_cast<uint64_t>(config_.vocab_size);
    if (!in_vocabulary)
      fail(std::string("'") + key + "' holds token id " + io::json_excerpt(id) + ", outside the model's vocabulary (0-" +
           std::to_string(config_.vocab_size - 1) + ")");
    return static_cast<int32_t>(id.get<uint64_t>());
  }

  std::vector<int32_t> encode(const char* key, const std::string& text) const {
    if (tokenizer_ == nullptr)
      fail(std::string("'") + key + "' is a text, but the model has no tokenizer files", "give token ids instead");
    std::vector<int32_t> tokens;
    try {
      tokens = tokenizer_->encode(text);
    } catch (const Error& error) {
      fail(std::string("'") + key + "': " + error.what());
    }
    for (int32_t id : tokens)
      if (id >= config_.vocab_size)
        fail(std::string("'") + key + "' encodes to token " + std::to_string(id) + ", outside the model's vocabulary of " +
             std::to_string(config_.vocab_size));
    return tokens;
  }

  const json& line_;
  std::string where_;
  const engine::ModelConfig& config_;
  const io::Tokenizer* tokenizer_;
};

std::string describe_prompt(const std::vector<int32_t>& tokens, const json& given, const io::Tokenizer* tokenizer) {
  if (given.is_string()) return given.get<std::string>();
  if (tokenizer != nullptr) {
    try {
      return tokenizer->decode(tokens);
    } catch (const Error&) {  // ids the tokenizer does not know (a model with a larger vocabulary)
    }
  }
  return io::json_excerpt(given);
}

}  // namespace

PairedDataset read_pairs(std::istream& in, const std::string& source_name, const engine::ModelConfig& config,
                         const io::Tokenizer* tokenizer) {
  PairedDataset pairs{.clean = {.schema = pairs_schema(), .examples = {}, .seed = 0, .generator = "pairs from " + source_name,
                                .source_files = {}},
                      .corrupted = {},
                      .corruption = "the pairs' corrupted prompts"};
  pairs.corrupted = pairs.clean;
  const std::string one_pair_per_line =
      "one pair per line: {\"clean\": ..., \"corrupted\": ..., \"answer\": ..., \"distractor\": ...}";
  auto read_line = [&](json&& line, const std::string& where) {
    const PairLine reader(line, where, config, tokenizer);
    data::Example clean, corrupted;
    clean.tokens = reader.prompt("clean");
    corrupted.tokens = reader.prompt("corrupted");
    if (clean.tokens.size() != corrupted.tokens.size())
      reader.fail("the clean prompt has " + std::to_string(clean.tokens.size()) + " tokens and the corrupted one " +
                      std::to_string(corrupted.tokens.size()),
                  "a pair's prompts must have the same length in tokens, so that activations line up position by position");
    clean.answer = corrupted.answer = reader.token("answer");
    clean.distractor = corrupted.distractor = reader.token("distractor");
    clean.text = describe_prompt(clean.tokens, line.at("clean"), tokenizer);
    corrupted.text = describe_prompt(corrupted.tokens, line.at("corrupted"), tokenizer);
    clean.positions = corrupted.positions = {static_cast<int>(clean.tokens.size()) - 1};
    clean.group = corrupted.group = "len" + std::to_string(clean.tokens.size());
    pairs.clean.examples.push_back(std::move(clean));
    pairs.corrupted.examples.push_back(std::move(corrupted));
  };
  constexpr int kMaxDepth = 4;  // a pair nests two levels deep
  io::for_each_json_line(in, source_name, kMaxDepth, one_pair_per_line, read_line);
  if (pairs.clean.examples.empty())
    throw Error(source_name + ": no pairs (the file is empty)", one_pair_per_line);
  return pairs;
}

PairedDataset read_pair_file(const std::filesystem::path& file, const engine::ModelConfig& config,
                             const io::Tokenizer* tokenizer) {
  std::istringstream in;
  in.str(io::read_input_file(file, io::input_limits::pair_file));
  return read_pairs(in, file.string(), config, tokenizer);
}

}  // namespace cscrub::discover
