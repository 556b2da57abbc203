// Byte-level BPE: GPT-2's exactly as OpenAI's encoder (bytes mapped to printable unicode, text pre-split by
// GPT-2's regex, merges applied by rank), and a Hugging Face tokenizer.json of that kind (GPT-NeoX's/Pythia's),
// as Hugging Face's tokenizers runs it: added tokens split out first, NFC if it says so, then the same BPE.
// All const members may be called from several threads at once (encode's word cache is locked); encode
// throws cscrub::Error naming the byte offset if the text is not valid UTF-8.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace cscrub::io {

class Tokenizer {
 public:
  // From `dir`'s tokenizer.json if it has one (what Hugging Face's AutoTokenizer reads first), else its
  // vocab.json + merges.txt or encoder.json + vocab.bpe; throws cscrub::Error if absent or malformed.
  static Tokenizer load(const std::filesystem::path& dir);
  static Tokenizer load(const std::filesystem::path& vocab_json, const std::filesystem::path& merges_txt);
  static Tokenizer load_tokenizer_json(const std::filesystem::path& tokenizer_json);

  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;
  ~Tokenizer();

  std::vector<int32_t> encode(std::string_view text) const;
  std::string decode(std::span<const int32_t> ids) const;  // throws cscrub::Error for unknown ids
  std::string token_text(int32_t id) const;                // the bytes one token stands for
  // The id of a text that is exactly one token (e.g. " Mary"), if it is one.
  std::optional<int32_t> single_token(std::string_view text) const;
  int32_t vocab_size() const;

 private:
  struct State;
  explicit Tokenizer(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace cscrub::io
