// JSON Lines files (datasets, prompt pairs), read one object per line with the checks every such reader
// needs: line numbers in every message, blank lines skipped, nesting bounded before the parser sees the text,
// and a key given twice refused rather than silently taking the last.
#pragma once
#include <functional>
#include <istream>
#include <nlohmann/json.hpp>
#include <string>

namespace cscrub::io {

// Calls `on_line(line, where)` for each non-blank line of `in`, parsed as a JSON object (keys in the order
// written); `where` is "SOURCE:LINE: ", the prefix of any message about that line. Throws cscrub::Error naming
// the line for text nested more than `max_depth` levels, text that is not a JSON object (with `object_hint`,
// what a line holds), or a key repeated within an object; and for a stream that fails while being read.
void for_each_json_line(std::istream& in, const std::string& source_name, int max_depth, const std::string& object_hint,
                        const std::function<void(nlohmann::ordered_json&& line, const std::string& where)>& on_line);

}  // namespace cscrub::io
