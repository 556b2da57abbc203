// The nesting depth of text that may not be valid JSON, measured before a parser sees it: nlohmann's parse
// with a callback, and its copies, recurse, so 100,000 nested brackets on one line overflowed the stack.
#pragma once
#include <algorithm>
#include <string_view>

namespace cscrub::io {

// The deepest nesting of brackets and braces outside strings.
inline int json_nesting_depth(std::string_view text) {
  int depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return deepest;
}

}  // namespace cscrub::io
