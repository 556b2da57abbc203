#include "json_excerpt.hpp"

namespace cscrub::io {

namespace {

constexpr size_t kMaxLength = 80;
constexpr size_t kMaxFlatArray = 16;

std::string count_of(size_t count, const char* unit) {
  return std::to_string(count) + " " + unit + (count == 1 ? "" : "s");
}

}  // namespace

std::string json_excerpt(const nlohmann::json& value) {
  if (value.is_object()) return "an object with " + count_of(value.size(), "key");
  if (value.is_array()) {
    bool flat = value.size() <= kMaxFlatArray;
    for (const nlohmann::json& element : value) flat = flat && element.is_primitive();
    if (!flat) return "an array of " + count_of(value.size(), "value");
  }
  // Flat now, so dump() stays shallow; strings were valid UTF-8 when parsed, but replace just in case.
  std::string text = value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (text.size() > kMaxLength) text = text.substr(0, kMaxLength - 3) + "...";
  return text;
}

}  // namespace cscrub::io
