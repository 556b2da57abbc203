#include "cscrub/io/tokenizer_json.hpp"

#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_depth.hpp"
#include "cscrub/io/json_unique_keys.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/bpe_utf8.hpp"
#include "cscrub/io/json_excerpt.hpp"

namespace cscrub::io {
namespace {

using nlohmann::json;

class Reader {
 public:
  explicit Reader(std::filesystem::path path) : path_(std::move(path)) {}

  [[noreturn]] void fail(const std::string& message, const std::string& hint = {}) const {
    throw Error(path_.string() + ": " + message, hint);
  }

  // `object[key]` if present and not null.
  const json* find(const json& object, const char* key) const {
    if (!object.is_object()) return nullptr;
    const auto found = object.find(key);
    return found == object.end() || found->is_null() ? nullptr : &*found;
  }

  bool boolean_or(const json& object, const char* key, bool fallback, const std::string& where) const {
    const json* value = find(object, key);
    if (value == nullptr) return fallback;
    if (!value->is_boolean()) fail(where + "'" + key + "' must be true or false, not " + json_excerpt(*value));
    return value->get<bool>();
  }

  // The token bytes of a vocabulary spelling (GPT-2's byte-level alphabet).
  std::string bytes_of(const std::string& spelling, const std::string& where) const {
    auto bytes = byte_level_to_bytes(spelling);
    if (!bytes || bytes->empty())
      fail(where + "token " + json(spelling).dump(-1, ' ', false, json::error_handler_t::replace) +
           " is not spelled in GPT-2's byte-level alphabet (bytes_to_unicode: one printable character per byte)");
    return *bytes;
  }

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

json parse(const std::filesystem::path& path) {
  const std::string text = read_input_file(path, input_limits::tokenizer_file);
  refuse_deep_json(text, path.string());
  std::string duplicate_key;
  json root;
  try {
    root = parse_json_noting_duplicate_keys(text, /*allow_exceptions=*/true, duplicate_key);
  } catch (const json::exception& error) {
    throw Error(path.string() + ": not valid JSON (" + error.what() + ")");
  }
  if (!duplicate_key.empty())
    throw Error(path.string() + ": key '" + duplicate_key + "' appears twice in one object: which is meant?");
  return root;
}

void read_normalizer(const Reader& reader, const json& root, TokenizerJson& tokenizer) {
  const json* normalizer = reader.find(root, "normalizer");
  if (normalizer == nullptr) return;
  const json* type = reader.find(*normalizer, "type");
  if (type != nullptr && *type == "NFC") {
    tokenizer.nfc = true;
    return;
  }
  reader.fail("normalizer " + (type ? json_excerpt(*type) : json_excerpt(*normalizer)) + " is not supported",
              "cscrub reads byte-level BPE tokenizers without a normalizer or with NFC");
}

void read_pre_tokenizer(const Reader& reader, const json& root, TokenizerJson& tokenizer) {
  const json* pre = reader.find(root, "pre_tokenizer");
  const json* type = pre ? reader.find(*pre, "type") : nullptr;
  if (type == nullptr || *type != "ByteLevel")
    reader.fail("pre_tokenizer " + (type ? json_excerpt(*type) : pre ? json_excerpt(*pre) : std::string("null")) +
                    " is not supported",
                "cscrub reads byte-level BPE tokenizers: \"pre_tokenizer\": {\"type\": \"ByteLevel\", ...}");
  tokenizer.add_prefix_space = reader.boolean_or(*pre, "add_prefix_space", false, "pre_tokenizer: ");
  tokenizer.use_regex = reader.boolean_or(*pre, "use_regex", true, "pre_tokenizer: ");
}

void refuse_bpe_options(const Reader& reader, const json& model) {
  if (const json* dropout = reader.find(model, "dropout"); dropout && !(dropout->is_number() && dropout->get<double>() == 0.0))
    reader.fail("model: 'dropout' is " + json_excerpt(*dropout) + ": BPE dropout makes tokenization random");
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (const json* affix = reader.find(model, key); affix && *affix != "")
      reader.fail("model: '" + std::string(key) + "' is " + json_excerpt(*affix) + ": not a byte-level BPE option cscrub supports");
  for (const char* key : {"byte_fallback", "ignore_merges"})
    if (reader.boolean_or(model, key, false, "model: "))
      reader.fail("model: '" + std::string(key) + "' is true: not supported (byte-level BPE has no use for it)");
}

// The ids of `tokens` tokens run from 0 to tokens - 1: a larger id is refused before anything is sized by it
// (a 100-byte file giving one token the id 2^24 - 1 had 16 million strings allocated, half a GB).
bool valid_id(const json& id, size_t tokens) {
  return id.is_number_integer() && id.get<int64_t>() >= 0 && static_cast<uint64_t>(id.get<int64_t>()) < tokens;
}

void read_vocabulary(const Reader& reader, const json& model, size_t tokens, std::vector<std::string>& token_bytes) {
  const json* vocab = reader.find(model, "vocab");
  if (vocab == nullptr || !vocab->is_object() || vocab->empty())
    reader.fail("model: 'vocab' must be a non-empty object mapping each token to its id");
  for (const auto& [spelling, id] : vocab->items()) {
    const std::string where = "model.vocab: ";
    if (!valid_id(id, tokens))
      reader.fail(where + "token " + json(spelling).dump(-1, ' ', false, json::error_handler_t::replace) + " has id " +
                  json_excerpt(id) + ", not an id from 0 to " + std::to_string(tokens - 1) +
                  " (ids must run from 0 to the number of tokens - 1)");
    const auto index = static_cast<size_t>(id.get<int64_t>());
    if (token_bytes.size() <= index) token_bytes.resize(index + 1);
    if (!token_bytes[index].empty())
      reader.fail(where + "id " + std::to_string(index) + " is given to two tokens");
    token_bytes[index] = reader.bytes_of(spelling, where);
  }
}

void read_merges(const Reader& reader, const json& model, std::vector<MergeRule>& merges) {
  const json* list = reader.find(model, "merges");
  if (list == nullptr) return;
  if (!list->is_array()) reader.fail("model: 'merges' must be a list, not " + json_excerpt(*list));
  merges.reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    const json& merge = (*list)[i];
    const std::string where = "model.merges[" + std::to_string(i) + "]: ";
    std::string left, right;
    if (merge.is_string()) {  // "left right" (tokenizers before 0.20)
      const std::string text = merge.get<std::string>();
      const size_t space = text.find(' ');
      if (space == std::string::npos || space == 0 || space + 1 == text.size() || text.find(' ', space + 1) != std::string::npos)
        reader.fail(where + "expected two tokens separated by one space, not " + json_excerpt(merge));
      left = text.substr(0, space);
      right = text.substr(space + 1);
    } else if (merge.is_array() && merge.size() == 2 && merge[0].is_string() && merge[1].is_string()) {  // ["left", "right"]
      left = merge[0].get<std::string>();
      right = merge[1].get<std::string>();
    } else {
      reader.fail(where + "expected \"left right\" or [\"left\", \"right\"], not " + json_excerpt(merge));
    }
    merges.push_back({reader.bytes_of(left, where), reader.bytes_of(right, where), static_cast<int>(i + 1)});
  }
}

void read_added_tokens(const Reader& reader, const json& root, size_t tokens, TokenizerJson& tokenizer) {
  const json* added = reader.find(root, "added_tokens");
  if (added == nullptr) return;
  if (!added->is_array()) reader.fail("'added_tokens' must be a list, not " + json_excerpt(*added));
  for (size_t i = 0; i < added->size(); ++i) {
    const json& token = (*added)[i];
    const std::string where = "added_tokens[" + std::to_string(i) + "]: ";
    const json* content = reader.find(token, "content");
    const json* id = reader.find(token, "id");
    if (content == nullptr || !content->is_string() || content->get<std::string>().empty())
      reader.fail(where + "'content' must be a non-empty string");
    if (find_invalid_utf8(content->get<std::string>())) reader.fail(where + "'content' is not valid UTF-8");
    if (id == nullptr || !valid_id(*id, tokens))
      reader.fail(where + "'id' must be an id from 0 to " + std::to_string(tokens - 1) +
                  " (ids must run from 0 to the number of tokens - 1), not " + (id ? json_excerpt(*id) : std::string("absent")));
    for (const char* key : {"single_word", "lstrip", "rstrip"})
      if (reader.boolean_or(token, key, false, where))
        reader.fail(where + "'" + key + "' is true: added tokens that strip or need word boundaries are not supported");
    const bool special = reader.boolean_or(token, "special", false, where);
    // Hugging Face matches special tokens in the raw text whatever 'normalized' says.
    const bool normalized = !special && reader.boolean_or(token, "normalized", !special, where);
    const auto index = static_cast<size_t>(id->get<int64_t>());
    if (tokenizer.token_bytes.size() <= index) tokenizer.token_bytes.resize(index + 1);
    const bool in_vocabulary = !tokenizer.token_bytes[index].empty();
    if (!in_vocabulary) {
      tokenizer.token_bytes[index] = content->get<std::string>();
    } else if (tokenizer.token_bytes[index] != content->get<std::string>()) {
      reader.fail(where + "id " + std::to_string(index) + " is " + json_excerpt(*content) +
                  " here but another token in the model's vocabulary");
    }
    tokenizer.added_tokens.push_back({content->get<std::string>(), static_cast<int32_t>(index), normalized, in_vocabulary});
  }
}

}  // namespace

TokenizerJson read_tokenizer_json(const std::filesystem::path& path) {
  const Reader reader(path);
  const json root = parse(path);
  if (!root.is_object()) reader.fail("not a JSON object");
  const json* model = reader.find(root, "model");
  if (model == nullptr || !model->is_object()) reader.fail("no 'model' object");
  if (const json* type = reader.find(*model, "type"); type != nullptr && *type != "BPE")
    reader.fail("model type " + json_excerpt(*type) + " is not supported", "cscrub reads byte-level BPE tokenizers");

  TokenizerJson tokenizer;
  refuse_bpe_options(reader, *model);
  read_normalizer(reader, root, tokenizer);
  read_pre_tokenizer(reader, root, tokenizer);
  // At most this many distinct tokens: every vocabulary entry and every added token a new one.
  const json* vocab = reader.find(*model, "vocab");
  const json* added = reader.find(root, "added_tokens");
  const size_t tokens = (vocab && vocab->is_object() ? vocab->size() : 0) + (added && added->is_array() ? added->size() : 0);
  read_vocabulary(reader, *model, tokens, tokenizer.token_bytes);
  read_merges(reader, *model, tokenizer.merges);
  read_added_tokens(reader, root, tokens, tokenizer);
  for (size_t id = 0; id < tokenizer.token_bytes.size(); ++id)
    if (tokenizer.token_bytes[id].empty())
      reader.fail("no token has id " + std::to_string(id) + " (ids must run from 0 to the number of tokens - 1)");
  return tokenizer;
}

}  // namespace cscrub::io
