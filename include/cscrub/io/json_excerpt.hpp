// A JSON value from an input file, quoted in an error message: short, one line, and never a recursive
// walk of whatever nesting the file contains (nlohmann's dump() recurses: a shape written as a million
// nested brackets would overflow the stack while the message is being built).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace cscrub::io {

// Scalars and flat arrays of scalars as JSON (long text cut with "..."); anything else described, e.g.
// "an array of 3 values", "an object with 2 keys". For nlohmann::json and nlohmann::ordered_json alike.
template <typename Json>
std::string json_excerpt(const Json& value) {
  constexpr size_t kMaxLength = 80, kMaxFlatArray = 16;
  const auto count_of = [](size_t count, const char* unit) {
    return std::to_string(count) + " " + unit + (count == 1 ? "" : "s");
  };
  if (value.is_object()) return "an object with " + count_of(value.size(), "key");
  if (value.is_array()) {
    bool flat = value.size() <= kMaxFlatArray;
    for (const Json& element : value) flat = flat && element.is_primitive();
    if (!flat) return "an array of " + count_of(value.size(), "value");
  }
  // Flat now, so dump() stays shallow; strings were valid UTF-8 when parsed, but replace just in case.
  std::string text = value.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxLength) text = text.substr(0, kMaxLength - 3) + "...";
  return text;
}

}  // namespace cscrub::io
