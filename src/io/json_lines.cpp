#include "cscrub/io/json_lines.hpp"

#include "cscrub/error.hpp"
#include "cscrub/io/json_depth.hpp"
#include "cscrub/io/json_unique_keys.hpp"

namespace cscrub::io {

void for_each_json_line(std::istream& in, const std::string& source_name, int max_depth, const std::string& object_hint,
                        const std::function<void(nlohmann::ordered_json&& line, const std::string& where)>& on_line) {
  std::string text;
  int line_number = 0;
  while (std::getline(in, text)) {
    ++line_number;
    if (text.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = source_name + ":" + std::to_string(line_number) + ": ";
    // nlohmann's parse with a callback, and its copies, recurse: 100,000 nested brackets overflowed the stack.
    if (line_nested_deeper_than(text, max_depth))
      throw Error(where + "values nested more than " + std::to_string(max_depth) + " levels deep");
    nlohmann::ordered_json line;
    std::string duplicate_key;
    try {
      line = parse_json_noting_duplicate_keys<nlohmann::ordered_json>(text, /*allow_exceptions=*/true, duplicate_key);
    } catch (const nlohmann::ordered_json::exception& error) {  // parse_error, and out_of_range for numbers like 1e400
      throw Error(where + "not a JSON object: " + error.what(), object_hint);
    }
    if (!line.is_object()) throw Error(where + "not a JSON object", object_hint);
    if (!duplicate_key.empty()) throw Error(where + "field '" + duplicate_key + "' appears twice");
    on_line(std::move(line), where);
  }
  if (in.bad()) throw Error("error while reading " + source_name);
}

}  // namespace cscrub::io
