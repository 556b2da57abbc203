// GPT-2's pre-split of text into words before BPE, with the semantics of OpenAI's encoder.py (Python's
// `regex` module):
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// run with PCRE2 (JIT when available). \s is spelled out as Unicode's White_Space property, which is what the
// `regex` module uses; PCRE2's own \s differs (it includes U+180E), and so does JavaScript's (it includes
// U+FEFF and excludes U+0085). \p{L} and \p{N} follow the Unicode tables of the linked PCRE2 (14.0 for 10.42).
#pragma once
#include <memory>
#include <string_view>
#include <vector>

namespace cscrub::io {

class PreTokenizer {
 public:
  PreTokenizer();  // compiles the pattern
  PreTokenizer(PreTokenizer&&) noexcept;
  PreTokenizer& operator=(PreTokenizer&&) noexcept;
  ~PreTokenizer();

  // The words of `text`, in order; they concatenate back to `text`. Throws cscrub::Error naming the byte
  // offset if `text` is not valid UTF-8 (Python's encoder only ever sees decoded text, so no split of
  // invalid bytes would be "exact"). Safe to call from several threads at once.
  std::vector<std::string_view> split(std::string_view text) const;

 private:
  struct Pattern;
  std::unique_ptr<Pattern> pattern_;
};

}  // namespace cscrub::io
