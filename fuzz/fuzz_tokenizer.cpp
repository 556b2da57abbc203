// libFuzzer target: GPT-2's BPE tokenizer (the real vocabulary and merges of the bundled model, installed
// by tools/fetch_tokenizer.sh). The input is text for encode and, read as 16-bit little-endian numbers
// minus 8, ids for decode (most in the vocabulary, some below and above it). Properties: encode refuses
// exactly the invalid UTF-8 (with cscrub::Error); its ids are in the vocabulary, at most one per byte,
// and decode back to the text; decode refuses exactly the ids outside the vocabulary and otherwise
// concatenates the tokens' bytes.
#include <vector>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_utf8.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "fuzz_support.hpp"

using namespace cscrub;

namespace {

const io::Tokenizer& tokenizer() {
  static const io::Tokenizer loaded = io::Tokenizer::load(CSCRUB_FUZZ_TOKENIZER_DIR);
  return loaded;
}

void check_encode(const io::Tokenizer& bpe, std::string_view text) {
  const bool valid = !io::find_invalid_utf8(text).has_value();
  std::vector<int32_t> ids;
  try {
    ids = bpe.encode(text);
  } catch (const Error&) {
    fuzz::require(!valid, "encode accepts all valid UTF-8");
    return;
  }
  fuzz::require(valid, "encode refuses invalid UTF-8");
  fuzz::require(ids.size() <= text.size(), "at most one token per byte");
  for (int32_t id : ids) fuzz::require(id >= 0 && id < bpe.vocab_size(), "ids are in the vocabulary");
  fuzz::require(bpe.decode(ids) == text, "decode(encode(text)) == text");
}

void check_decode(const io::Tokenizer& bpe, const uint8_t* data, size_t size) {
  std::vector<int32_t> ids;
  for (size_t i = 0; i + 1 < size; i += 2) ids.push_back(static_cast<int32_t>(data[i] | (data[i + 1] << 8)) - 8);
  bool known = true;
  std::string expected;
  for (int32_t id : ids) {
    if (id < 0 || id >= bpe.vocab_size()) {
      known = false;
      break;
    }
    expected += bpe.token_text(id);
  }
  try {
    fuzz::require(bpe.decode(ids) == expected, "decode concatenates the tokens' bytes");
    fuzz::require(known, "decode refuses unknown ids");
  } catch (const Error&) {
    fuzz::require(!known, "decode accepts every id in the vocabulary");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const io::Tokenizer& bpe = tokenizer();
  check_encode(bpe, std::string_view(reinterpret_cast<const char*>(data), size));
  check_decode(bpe, data, size);
  return 0;
}
