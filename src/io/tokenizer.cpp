// GPT-2's tokenizer: pre-split (bpe_pretokenizer), byte ids, merges by rank (bpe_merges), with a word cache.
#include "cscrub/io/tokenizer.hpp"

#include <array>
#include <cassert>
#include <mutex>
#include <unordered_map>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_byte_level.hpp"
#include "cscrub/io/bpe_merges.hpp"
#include "cscrub/io/bpe_pretokenizer.hpp"
#include "cscrub/io/tokenizer_files.hpp"

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

  // The merged ids of recently seen words. encode() is const and may run on several threads: the
  // cache is only touched under the mutex.
  mutable std::mutex cache_mutex;
  mutable std::unordered_map<std::string, std::vector<int32_t>, WordHash, std::equal_to<>> cache;

  void append_word(std::string_view word, std::vector<int32_t>& ids) const;
  void check_id(int32_t id) const;
};

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
  const std::string hint = "run tools/fetch_tokenizer.sh " + dir.string() + " to install GPT-2's tokenizer files";

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
  throw Error("no GPT-2 tokenizer files in " + dir.string() + " (expected vocab.json + merges.txt or encoder.json + vocab.bpe)",
              hint);
}

Tokenizer Tokenizer::load(const fs::path& vocab_json, const fs::path& merges_txt) {
  auto state = std::make_unique<State>();
  state->token_bytes = read_vocabulary(vocab_json);
  const std::vector<MergeRule> rules = read_merge_rules(merges_txt);
  if (state->token_bytes.size() > static_cast<size_t>(INT32_MAX) || rules.size() > static_cast<size_t>(INT32_MAX)) {
    throw Error(vocab_json.string() + ": too many tokens");
  }

  std::unordered_map<std::string, int32_t, WordHash, std::equal_to<>> id_of;
  id_of.reserve(state->token_bytes.size());
  for (size_t id = 0; id < state->token_bytes.size(); ++id) {
    auto [existing, added] = id_of.emplace(state->token_bytes[id], static_cast<int32_t>(id));
    if (!added) {
      throw Error(vocab_json.string() + ": token \"" + bytes_to_byte_level(state->token_bytes[id]) + "\" is listed twice, with ids " +
                  std::to_string(existing->second) + " and " + std::to_string(id));
    }
  }
  for (unsigned byte = 0; byte < 256; ++byte) {
    auto found = id_of.find(std::string(1, static_cast<char>(byte)));
    if (found == id_of.end()) {
      throw Error(vocab_json.string() + ": has no token for the byte " + hex_byte(byte) +
                  " (a byte-level BPE vocabulary needs all 256)");
    }
    state->byte_ids[byte] = found->second;
  }

  for (size_t rank = 0; rank < rules.size(); ++rank) {
    const MergeRule& rule = rules[rank];
    auto id = [&](const std::string& bytes) {
      auto found = id_of.find(bytes);
      if (found == id_of.end()) {
        throw Error(merges_txt.string() + ":" + std::to_string(rule.line) + ": the merge \"" +
                    bytes_to_byte_level(rule.left) + " " + bytes_to_byte_level(rule.right) + "\" needs the token \"" +
                    bytes_to_byte_level(bytes) + "\", which " + vocab_json.string() +
                    " does not have (are the two files from the same model?)");
      }
      return found->second;
    };
    state->merges.add(id(rule.left), id(rule.right), Merge{static_cast<int32_t>(rank), id(rule.left + rule.right)});
  }
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
  for (std::string_view word : state_->pre_tokenizer.split(text)) state_->append_word(word, ids);
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
