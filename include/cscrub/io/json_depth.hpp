// A bound on the nesting of JSON input, checked before a parser sees the text: nlohmann parses
// iteratively, but comparing, copying, dumping or diffing its values recurses, and 100,000 nested brackets
// overflow the stack. Every JSON reader passes its text through here.
#pragma once
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace cscrub::io {

// The deepest any cscrub JSON input nests (a run record: 4 levels; config.json: 3; a safetensors header: 3).
inline constexpr int kMaxJsonDepth = 64;

// The 1-based line on which `text` first nests arrays and objects more than `max_depth` deep, if it does
// (brackets inside strings do not count).
std::optional<size_t> line_nested_deeper_than(std::string_view text, int max_depth);

// The deepest nesting of arrays and objects in `text` (brackets inside strings do not count).
int json_nesting_depth(std::string_view text);

// Throws cscrub::Error "SOURCE:LINE: JSON values nested more than MAX_DEPTH levels deep (the limit)".
void refuse_deep_json(std::string_view text, const std::string& source, int max_depth = kMaxJsonDepth);

}  // namespace cscrub::io
