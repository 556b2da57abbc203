// Byte-level BPE: added tokens split out (tokenizer.json), NFC (if asked), pre-split (bpe_pretokenizer), byte ids,
// merges by rank (bpe_merges), with a word cache.
#include "cscrub/io/tokenizer.hpp"

#include <array>
#include <cassert>
#include <mutex>
#include <unordered_map>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/bpe_merges.hpp"
#include "cscrub/io/bpe_pretokenizer.hpp"
#include "cscrub/io/bpe_utf8.hpp"
#include "cscrub/io/tokenizer_files.hpp"
#include "cscrub/io/tokenizer_json.hpp"
#include "cscrub/io/unicode_nfc.hpp"

namespace cscrub::io {
namespace {

namespace fs = std::filesystem;

// Hashing std::string and std::string_view alike, so the cache is probed without copying the word.
struct WordHash {
  using is_transparent = void;
  size_t operator()(std::string_view word) const { return std::hash<std::string_view>{}(word); }
};

// Bounds on the word cache: real text repeats a few thousand words; long or endless streams of new words
// (random data) must not grow memory without limit.
constexpr size_t kMaxCachedWords = 1 << 17;
constexpr size_t kMaxCachedWordBytes = 128;

std::string hex_byte(unsigned byte) {
  constexpr char kDigits[] = "0123456789ABCDEF";
  return std::string("0x") + kDigits[byte >> 4] + kDigits[byte & 15];
}

}  // namespace

struct Tokenizer::State {
  std::vector<std::string> token_bytes;  // by id
  std::array<int32_t, 256> byte_ids{};   // the single-byte token of each byte
  MergeTable merges;
  PreTokenizer pre_tokenizer;
  // tokenizer.json's steps around the BPE (GPT-2's own files have none of them).
  std::vector<AddedToken> added_tokens;
  bool nfc = false;
  bool add_prefix_space = false;
  bool use_regex = true;

  // The merged ids of recently seen words. encode() is const and may run on several threads: the
  // cache is only touched under the mutex.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>, WordHash, std::equal_to<>> cache;

  void append_word(std::string_view word, std::vector<int32_t>& ids) const;
  void append_text(std::string_view text, std::vector<int32_t>& ids) const;
  // Splits `text` at the added tokens of one kind (matched in raw or in normalized text), leftmost-longest as
  // Hugging Face's tokenizers do; other pieces go to `other`.
  template <typename Other>
  void split_added(std::string_view text, bool normalized, std::vector<int32_t>& ids, Other&& other) const;
  void check_id(int32_t id) const;
};

template <typename Other>
void Tokenizer::State::split_added(std::string_view text, bool normalized, std::vector<int32_t>& ids, Other&& other) const {
  size_t piece_start = 0, position = 0;
  while (position < text.size()) {
    const AddedToken* longest = nullptr;
    for (const AddedToken& token : added_tokens)
      if (token.normalized == normalized && text.substr(position).starts_with(token.content) &&
          (longest == nullptr || token.content.size() > longest->content.size()))
        longest = &token;
    if (longest == nullptr) {
      ++position;
      continue;
    }
    if (position > piece_start) other(text.substr(piece_start, position - piece_start));
    ids.push_back(longest->id);
    position += longest->content.size();
    piece_start = position;
  }
  if (piece_start < text.size()) other(text.substr(piece_start));
}

void Tokenizer::State::append_text(std::string_view text, std::vector<int32_t>& ids) const {
  auto pre_tokenize = [&](std::string_view piece) {
    std::string prefixed;
    if (add_prefix_space && !piece.starts_with(' ')) {
      prefixed.assign(1, ' ');
      prefixed.append(piece);
      piece = prefixed;
    }
    if (!use_regex) return append_word(piece, ids);
    for (std::string_view word : pre_tokenizer.split(piece)) append_word(word, ids);
  };
  if (added_tokens.empty() && !nfc) {
    for (std::string_view word : pre_tokenizer.split(text)) append_word(word, ids);
    return;
  }
  if (find_invalid_utf8(text)) (void)pre_tokenizer.split(text);  // throws the pre-tokenizer's own message
  split_added(text, /*normalized=*/false, ids, [&](std::string_view raw) {
    const std::string normalized = nfc ? to_nfc(raw) : std::string(raw);
    split_added(normalized, /*normalized=*/true, ids, pre_tokenize);
  });
}

void Tokenizer::State::append_word(std::string_view word, std::vector<int32_t>& ids) const {
  const bool cacheable = word.size() <= kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    if (auto found = cache.find(word); found != cache.end()) {
      ids.insert(ids.end(), found->second.begin(), found->second.end());
      return;
    }
  }
  std::vector<int32_t> symbols;
  symbols.reserve(word.size());
  for (char byte : word) symbols.push_back(byte_ids[static_cast<unsigned char>(byte)]);
  std::vector<int32_t> merged = apply_merges(std::move(symbols), merges);
  ids.insert(ids.end(), merged.begin(), merged.end());
  if (cacheable) {
    std::lock_guard lock(cache_mutex);
    if (cache.size() >= kMaxCachedWords) cache.clear();
    cache.emplace(std::string(word), std::move(merged));
  }
}

void Tokenizer::State::check_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= token_bytes.size()) {
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary (ids 0.." +
                std::to_string(token_bytes.size() - 1) + ")");
  }
}

Tokenizer Tokenizer::load(const fs::path& dir) {
  struct Convention {
    const char* vocab;
    const char* merges;
  };
  constexpr std::array<Convention, 2> kConventions{{{"vocab.json", "merges.txt"}, {"encoder.json", "vocab.bpe"}}};
  const std::string hint = "run tools/fetch_tokenizer.sh " + dir.string() +
                           " to install GPT-2's tokenizer files, or copy the model's tokenizer.json from Hugging Face";

  // What Hugging Face's AutoTokenizer reads first (GPT-NeoX's only tokenizer file).
  if (fs::exists(dir / "tokenizer.json")) return load_tokenizer_json(dir / "tokenizer.json");
  for (const auto& convention : kConventions) {
    if (fs::exists(dir / convention.vocab) && fs::exists(dir / convention.merges)) {
      return load(dir / convention.vocab, dir / convention.merges);
    }
  }
  for (const auto& convention : kConventions) {
    const bool has_vocab = fs::exists(dir / convention.vocab);
    if (has_vocab || fs::exists(dir / convention.merges)) {
      const char* present = has_vocab ? convention.vocab : convention.merges;
      const char* missing = has_vocab ? convention.merges : convention.vocab;
      throw Error(dir.string() + " has " + present + " but not " + missing + ", its other half of GPT-2's tokenizer",
                  hint);
    }
  }
  if (!fs::is_directory(dir)) {
    throw Error("model directory " + dir.string() + (fs::exists(dir) ? " is not a directory" : " does not exist"), hint);
  }
  throw Error("no tokenizer files in " + dir.string() +
                  " (expected tokenizer.json, vocab.json + merges.txt or encoder.json + vocab.bpe)",
              hint);
}

namespace {

// The state shared by both file formats: token bytes by id, the single-byte tokens, the merge table.
// `vocabulary` names the file that lists the tokens; `merge_at(rule)` says where a merge rule is, for messages.
template <typename MergeAt>
void build_bpe(std::vector<std::string> token_bytes, const std::vector<MergeRule>& rules, const std::string& vocabulary,
               MergeAt&& merge_at, std::vector<std::string>& bytes_out, std::array<int32_t, 256>& byte_ids,
               MergeTable& merges) {
  if (token_bytes.size() > static_cast<size_t>(INT32_MAX) || rules.size() > static_cast<size_t>(INT32_MAX)) {
    throw Error(vocabulary + ": too many tokens");
  }
  std::unordered_map<std::string, int32_t, WordHash, std::equal_to<>> id_of;
  id_of.reserve(token_bytes.size());
  for (size_t id = 0; id < token_bytes.size(); ++id) {
    auto [existing, added] = id_of.emplace(token_bytes[id], static_cast<int32_t>(id));
    if (!added) {
      throw Error(vocabulary + ": token \"" + bytes_to_byte_level(token_bytes[id]) + "\" is listed twice, with ids " +
                  std::to_string(existing->second) + " and " + std::to_string(id));
    }
  }
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto found = id_of.find(std::string(1, static_cast<char>(byte)));
    if (found == id_of.end()) {
      throw Error(vocabulary + ": has no token for the byte " + hex_byte(byte) +
                  " (a byte-level BPE vocabulary needs all 256)");
    }
    byte_ids[byte] = found->second;
  }
  for (size_t rank = 0; rank < rules.size(); ++rank) {
    const MergeRule& rule = rules[rank];
    auto id = [&](const std::string& bytes) {
      auto found = id_of.find(bytes);
      if (found == id_of.end()) {
        throw Error(merge_at(rule) + ": the merge \"" + bytes_to_byte_level(rule.left) + " " +
                    bytes_to_byte_level(rule.right) + "\" needs the token \"" + bytes_to_byte_level(bytes) +
                    "\", which " + vocabulary + " does not have (are the two from the same model?)");
      }
      return found->second;
    };
    merges.add(id(rule.left), id(rule.right), Merge{static_cast<int32_t>(rank), id(rule.left + rule.right)});
  }
  bytes_out = std::move(token_bytes);
}

}  // namespace

Tokenizer Tokenizer::load(const fs::path& vocab_json, const fs::path& merges_txt) {
  auto state = std::make_unique<State>();
  const std::vector<MergeRule> rules = read_merge_rules(merges_txt);
  build_bpe(read_vocabulary(vocab_json), rules, vocab_json.string(),
            [&](const MergeRule& rule) { return merges_txt.string() + ":" + std::to_string(rule.line); },
            state->token_bytes, state->byte_ids, state->merges);
  return Tokenizer(std::move(state));
}

Tokenizer Tokenizer::load_tokenizer_json(const fs::path& tokenizer_json) {
  TokenizerJson file = read_tokenizer_json(tokenizer_json);
  auto state = std::make_unique<State>();
  // Added tokens outside the model's vocabulary take part in no merge; they stay out of the BPE's table (their
  // text may be a byte-level token's bytes too, e.g. a run of spaces).
  std::vector<std::string> bpe_tokens = file.token_bytes;
  for (const AddedToken& token : file.added_tokens)
    if (!token.in_vocabulary) bpe_tokens[static_cast<size_t>(token.id)].insert(0, std::string("\0added:", 7));
  build_bpe(std::move(bpe_tokens), file.merges, tokenizer_json.string() + " (model.vocab)",
            [&](const MergeRule& rule) { return tokenizer_json.string() + ": model.merges[" + std::to_string(rule.line - 1) + "]"; },
            state->token_bytes, state->byte_ids, state->merges);
  state->token_bytes = std::move(file.token_bytes);
  state->added_tokens = std::move(file.added_tokens);
  state->nfc = file.nfc;
  state->add_prefix_space = file.add_prefix_space;
  state->use_regex = file.use_regex;
  return Tokenizer(std::move(state));
}

Tokenizer::Tokenizer(std::unique_ptr<State> state) : state_(std::move(state)) {}
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text) const {
  assert(state_ && "use of a moved-from Tokenizer");
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 1);
  state_->append_text(text, ids);
  return ids;
}

std::string Tokenizer::decode(std::span<const int32_t> ids) const {
  assert(state_ && "use of a moved-from Tokenizer");
  std::string text;
  for (int32_t id : ids) {
    state_->check_id(id);
    text += state_->token_bytes[static_cast<size_t>(id)];
  }
  return text;
}

std::string Tokenizer::token_text(int32_t id) const {
  assert(state_ && "use of a moved-from Tokenizer");
  state_->check_id(id);
  return state_->token_bytes[static_cast<size_t>(id)];
}

// "Is one token" means: encoding the text alone gives one id (so " Mary" is, and "<|endoftext|>" is not:
// encode treats it as ordinary text, like the original).
std::optional<int32_t> Tokenizer::single_token(std::string_view text) const {
  std::vector<int32_t> ids = encode(text);
  if (ids.size() != 1) return std::nullopt;
  return ids.front();
}

int32_t Tokenizer::vocab_size() const {
  assert(state_ && "use of a moved-from Tokenizer");
  return static_cast<int32_t>(state_->token_bytes.size());
}

}  // namespace cscrub::io
