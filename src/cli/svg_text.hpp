// Text placed in SVG files, escaped once for every picture cscrub draws.
#pragma once
#include <string>

#include "cscrub/io/bpe_utf8.hpp"

namespace cscrub::cli {

// Escapes the characters XML gives a meaning to (<, >, &, ", '), and replaces what XML 1.0 cannot hold
// (control characters; bytes that are not UTF-8, such as a token that is half of a character) with U+FFFD:
// names and labels are user text, and the file must stay well-formed whatever they hold.
inline std::string svg_escape(const std::string& text) {
  std::string out;
  for (size_t offset = 0; offset < text.size();) {
    const std::optional<char32_t> code_point = io::decode_utf8(text, offset);
    if (!code_point) {
      out += "\uFFFD";
      ++offset;
      continue;
    }
    const char32_t c = *code_point;
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else if (c == '\'') out += "&#39;";
    else if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xFFFE || c == 0xFFFF) out += "\uFFFD";
    else io::append_utf8(out, c);
  }
  return out;
}

}  // namespace cscrub::cli
