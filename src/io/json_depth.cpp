#include "cscrub/io/json_depth.hpp"

#include <algorithm>

#include "cscrub/error.hpp"

namespace cscrub::io {

namespace {

// Calls `open(depth, line)` at every bracket or brace that opens outside strings, until it returns true.
template <typename Open>
void scan_openings(std::string_view text, Open open) {
  int depth = 0;
  size_t line = 1;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (c == '\n') ++line;  // JSON strings hold no raw newline; a broken one is the parser's to report
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (open(++depth, line)) return;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
}

}  // namespace

std::optional<size_t> line_nested_deeper_than(std::string_view text, int max_depth) {
  std::optional<size_t> found;
  scan_openings(text, [&](int depth, size_t line) {
    if (depth > max_depth) found = line;
    return found.has_value();
  });
  return found;
}

int json_nesting_depth(std::string_view text) {
  int deepest = 0;
  scan_openings(text, [&](int depth, size_t) {
    deepest = std::max(deepest, depth);
    return false;
  });
  return deepest;
}

void refuse_deep_json(std::string_view text, const std::string& source, int max_depth) {
  if (const std::optional<size_t> line = line_nested_deeper_than(text, max_depth))
    throw Error(source + ":" + std::to_string(*line) + ": JSON values nested more than " + std::to_string(max_depth) +
                " levels deep (the limit)");
}

}  // namespace cscrub::io
