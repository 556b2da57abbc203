#include "cscrub/io/tokenizer_files.hpp"

#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/input_file.hpp"

namespace cscrub::io {
namespace {

// The token as it appears in the file, for messages.
std::string as_json_string(const std::string& spelling) {
  return nlohmann::json(spelling).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// Reads a flat {"token": id, ...} object as SAX events, without building a JSON document (3x faster for
// GPT-2's 50,257 entries). Entries keep file order; anything else is an error message.
class VocabularyEntries : public nlohmann::json_sax<nlohmann::json> {
 public:
  struct Entry {
    std::string spelling;
    int64_t id;
  };
  std::vector<Entry> entries;
  std::string error;

  bool null() override { return bad_id("null"); }
  bool boolean(bool value) override { return bad_id(value ? "true" : "false"); }
  bool number_integer(number_integer_t value) override { return add(value); }
  bool number_unsigned(number_unsigned_t value) override {
    return value > static_cast<uint64_t>(INT64_MAX) ? bad_id(std::to_string(value)) : add(static_cast<int64_t>(value));
  }
  bool number_float(number_float_t, const string_t& text) override { return bad_id(text); }
  bool string(string_t& value) override { return bad_id(as_json_string(value)); }
  bool binary(binary_t&) override { return bad_id("binary data"); }
  bool start_object(std::size_t) override {
    if (depth_++ == 0) return true;
    return bad_id("an object");
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool key(string_t& value) override {
    key_ = std::move(value);
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return fail("expected a JSON object mapping each token to its id, like {\"!\": 0, ...}");
    return bad_id("an array");
  }
  bool end_array() override { return true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& exception) override {
    return fail(std::string("not valid JSON: ") + exception.what());
  }

 private:
  bool add(int64_t id) {
    if (depth_ != 1) return fail("expected a JSON object mapping each token to its id, like {\"!\": 0, ...}");
    entries.push_back({std::move(key_), id});
    return true;
  }
  bool bad_id(const std::string& value) {
    if (depth_ == 0) return fail("expected a JSON object mapping each token to its id, like {\"!\": 0, ...}");
    return fail("token " + as_json_string(key_) + " has id " + value + ", not an integer");
  }
  bool fail(std::string message) {
    error = std::move(message);
    return false;
  }
  int depth_ = 0;
  std::string key_;
};

}  // namespace

std::vector<std::string> read_vocabulary(const std::filesystem::path& vocab_json) {
  const std::string file = vocab_json.string();
  VocabularyEntries vocabulary;
  const std::string contents = read_input_file(vocab_json, input_limits::tokenizer_file);
  if (!nlohmann::json::sax_parse(contents, &vocabulary) || vocabulary.entries.empty()) {
    throw Error(file + ": " + (vocabulary.error.empty() ? "expected a non-empty JSON object mapping tokens to ids"
                                                         : vocabulary.error));
  }

  const size_t count = vocabulary.entries.size();
  std::vector<const std::string*> spelling_of(count, nullptr);
  std::vector<std::string> bytes_of(count);
  for (const auto& [spelling, id] : vocabulary.entries) {
    if (id < 0 || static_cast<uint64_t>(id) >= count) {
      throw Error(file + ": token " + as_json_string(spelling) + " has id " + std::to_string(id) + ", outside 0.." +
                  std::to_string(count - 1) + " (ids must run from 0 to the number of tokens - 1)");
    }
    const std::string*& previous = spelling_of[static_cast<size_t>(id)];
    if (previous != nullptr) {
      throw Error(file + ": id " + std::to_string(id) + " is given to both " + as_json_string(*previous) + " and " +
                  as_json_string(spelling));
    }
    auto bytes = byte_level_to_bytes(spelling);
    if (!bytes || bytes->empty()) {
      throw Error(file + ": token " + as_json_string(spelling) +
                  " is not spelled in GPT-2's byte-level alphabet (bytes_to_unicode: one printable character per byte)");
    }
    previous = &spelling;
    bytes_of[static_cast<size_t>(id)] = std::move(*bytes);
  }
  return bytes_of;  // `count` entries with distinct ids in 0..count-1: every id is used
}

std::vector<MergeRule> read_merge_rules(const std::filesystem::path& merges_txt) {
  const std::string file = merges_txt.string();
  const std::string contents = read_input_file(merges_txt, input_limits::tokenizer_file);
  if (contents.size() > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    throw Error(file + ": too large for a merges file");
  }

  std::vector<MergeRule> rules;
  int line_number = 0;
  size_t start = 0;
  while (start < contents.size()) {
    size_t end = contents.find('\n', start);
    if (end == std::string::npos) end = contents.size();
    std::string_view line(contents.data() + start, end - start);
    start = end + 1;
    ++line_number;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line_number == 1 && line.starts_with("#version")) continue;
    const std::string where = file + ":" + std::to_string(line_number) + ": ";
    if (line.empty()) throw Error(where + "empty line (expected \"left right\", a pair of tokens to merge)");

    std::vector<std::string_view> fields;
    size_t position = 0;
    while (position < line.size()) {
      while (position < line.size() && (line[position] == ' ' || line[position] == '\t')) ++position;
      const size_t field_start = position;
      while (position < line.size() && line[position] != ' ' && line[position] != '\t') ++position;
      if (position > field_start) fields.push_back(line.substr(field_start, position - field_start));
    }
    if (fields.size() != 2) {
      throw Error(where + "expected two tokens separated by a space, found " + std::to_string(fields.size()) +
                  " in \"" + std::string(line) + "\"");
    }
    MergeRule rule;
    rule.line = line_number;
    for (int side = 0; side < 2; ++side) {
      auto bytes = byte_level_to_bytes(fields[side]);
      if (!bytes) {
        throw Error(where + "token " + as_json_string(std::string(fields[side])) +
                    " is not spelled in GPT-2's byte-level alphabet (bytes_to_unicode: one printable character per byte)");
      }
      (side == 0 ? rule.left : rule.right) = std::move(*bytes);
    }
    rules.push_back(std::move(rule));
  }
  return rules;
}

}  // namespace cscrub::io
