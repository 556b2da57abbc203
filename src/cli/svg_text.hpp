// Text placed in SVG files, escaped once for every picture cscrub draws.
#pragma once
#include <string>

namespace cscrub::cli {

// Escapes the characters XML gives a meaning to (<, >, &, ").
inline std::string svg_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else if (c == '"') out += "&quot;";
    else out += c;
  }
  return out;
}

}  // namespace cscrub::cli
