#include "cscrub/io/bpe_pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <cassert>
#include <cstdio>
#include <string>

#include "cscrub/error.hpp"
#include "cscrub/io/bpe_utf8.hpp"

namespace cscrub::io {
namespace {

// Unicode's White_Space property (stable since Unicode 6.3), as a character-class body.
constexpr const char* kWhiteSpace =
    R"(\t\n\x{0B}\f\r\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})";

std::string gpt2_pattern() {
  const std::string space = std::string("[") + kWhiteSpace + "]";
  const std::string not_space = std::string("[^") + kWhiteSpace + "]";
  const std::string other = std::string("[^") + kWhiteSpace + R"(\p{L}\p{N}])";
  return R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?)" + other + "+|" + space + "+(?!" + not_space + ")|" +
         space + "+";
}

std::string pcre2_message(int code) {
  PCRE2_UCHAR buffer[256];
  if (pcre2_get_error_message(code, buffer, sizeof buffer) < 0) return "PCRE2 error " + std::to_string(code);
  return reinterpret_cast<const char*>(buffer);
}

}  // namespace

struct PreTokenizer::Pattern {
  pcre2_code* code = nullptr;
  ~Pattern() { pcre2_code_free(code); }
};

PreTokenizer::PreTokenizer() : pattern_(std::make_unique<Pattern>()) {
  const std::string pattern = gpt2_pattern();
  int error_code = 0;
  PCRE2_SIZE error_offset = 0;
  // ANCHORED: every position starts a word, so each match must begin where the previous one ended (set at
  // compile time, where it does not disable the JIT).
  pattern_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                 PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &error_code, &error_offset, nullptr);
  assert(pattern_->code != nullptr && "the GPT-2 pattern must compile");
  if (pattern_->code == nullptr) throw Error("cannot compile GPT-2's pre-tokenizer pattern: " + pcre2_message(error_code));
  // Without the JIT PCRE2 interprets the pattern: slower, same results.
  (void)pcre2_jit_compile(pattern_->code, PCRE2_JIT_COMPLETE);
}

PreTokenizer::PreTokenizer(PreTokenizer&&) noexcept = default;
PreTokenizer& PreTokenizer::operator=(PreTokenizer&&) noexcept = default;
PreTokenizer::~PreTokenizer() = default;

std::vector<std::string_view> PreTokenizer::split(std::string_view text) const {
  assert(pattern_ && "use of a moved-from PreTokenizer");
  if (auto bad = find_invalid_utf8(text)) {
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02X", static_cast<unsigned char>(text[*bad]));
    throw Error("text to tokenize is not valid UTF-8: byte " + std::string(byte) + " at offset " +
                std::to_string(*bad) + " does not start a well-formed character");
  }
  std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> match(
      pcre2_match_data_create_from_pattern(pattern_->code, nullptr), &pcre2_match_data_free);
  if (!match) throw std::bad_alloc();

  std::vector<std::string_view> words;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t offset = 0;
  while (offset < text.size()) {
    const int rc = pcre2_match(pattern_->code, subject, text.size(), offset, PCRE2_NO_UTF_CHECK, match.get(), nullptr);
    if (rc < 0) {
      // Every character is a space, a letter, a number or "other", so only resource limits get here.
      throw Error("pre-tokenizing failed at byte offset " + std::to_string(offset) + ": " + pcre2_message(rc));
    }
    const PCRE2_SIZE* span = pcre2_get_ovector_pointer(match.get());
    assert(span[0] == offset && span[1] > offset);
    words.push_back(text.substr(span[0], span[1] - span[0]));
    offset = span[1];
  }
  return words;
}

}  // namespace cscrub::io
