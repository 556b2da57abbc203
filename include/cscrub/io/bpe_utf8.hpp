// The little UTF-8 the tokenizer needs: validation (PCRE2 is then told not to re-check), decoding one
// code point, encoding one.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cscrub::io {

// Offset of the first byte that does not start a well-formed UTF-8 sequence (truncated, overlong,
// surrogate, above U+10FFFF, stray continuation byte); nullopt if `text` is valid UTF-8.
std::optional<size_t> find_invalid_utf8(std::string_view text);

// Decodes the code point at `offset` and advances `offset` past it; nullopt (offset unchanged) if the
// bytes there are not well-formed UTF-8.
std::optional<char32_t> decode_utf8(std::string_view text, size_t& offset);

void append_utf8(std::string& out, char32_t code_point);

}  // namespace cscrub::io
