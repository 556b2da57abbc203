// libFuzzer target: a Hugging Face tokenizer.json (Tokenizer::load_tokenizer_json: the reader, then the BPE
// table built from it). Only cscrub::Error may escape, naming the file. A tokenizer that loads must have a
// token for every byte, and on fixed texts (ASCII and multi-byte, all already NFC) give ids in its vocabulary,
// at most one per byte, that decode back to the text (with add_prefix_space, to the text with spaces added
// before the pieces: the same once spaces are removed).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/error.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "fuzz_support.hpp"

using namespace cscrub;

namespace {

constexpr std::string_view kTexts[] = {
    "When Mary and John went to the store, John gave a drink to",
    " hello  world\n\n\tthe end<|endoftext|>",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e \xf0\x9f\x98\x80!",
    "",
};

std::string without_spaces(std::string_view text) {
  std::string kept;
  for (char c : text)
    if (c != ' ') kept += c;
  return kept;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::filesystem::path path = fuzz::scratch_dir() / "tokenizer.json";
  fuzz::write_file(path, data, size);
  std::optional<io::Tokenizer> tokenizer;
  try {
    tokenizer.emplace(io::Tokenizer::load_tokenizer_json(path));
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(path.string()), "tokenizer.json errors name the file");
    return 0;
  }
  fuzz::require(tokenizer->vocab_size() >= 256, "a token for every byte");
  for (std::string_view text : kTexts) {
    const std::vector<int32_t> ids = tokenizer->encode(text);
    for (int32_t id : ids) fuzz::require(id >= 0 && id < tokenizer->vocab_size(), "ids are in the vocabulary");
    const std::string decoded = tokenizer->decode(ids);
    if (decoded == text) {
      fuzz::require(ids.size() <= text.size(), "at most one token per byte");
      continue;
    }
    fuzz::require(without_spaces(decoded) == without_spaces(text), "decode(encode(text)) is the text, spaces aside");
  }
  return 0;
}
