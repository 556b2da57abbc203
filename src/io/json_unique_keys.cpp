#include "cscrub/io/json_unique_keys.hpp"

#include <set>
#include <vector>

namespace cscrub::io {

template <class Json>
Json parse_json_noting_duplicate_keys(std::string_view text, bool allow_exceptions, std::string& duplicate_key) {
  duplicate_key.clear();
  std::vector<std::set<std::string>> open_objects;  // the keys seen so far in each object being read
  const auto note_keys = [&](int /*depth*/, typename Json::parse_event_t event, Json& parsed) {
    using Event = typename Json::parse_event_t;
    if (event == Event::object_start) {
      open_objects.emplace_back();
    } else if (event == Event::object_end) {
      if (!open_objects.empty()) open_objects.pop_back();
    } else if (event == Event::key && !open_objects.empty() && parsed.is_string()) {
      const auto& key = parsed.template get_ref<const std::string&>();
      if (!open_objects.back().insert(key).second && duplicate_key.empty()) duplicate_key = key;
    }
    return true;
  };
  return Json::parse(text.begin(), text.end(), note_keys, allow_exceptions);
}

template nlohmann::json parse_json_noting_duplicate_keys<nlohmann::json>(std::string_view, bool, std::string&);
template nlohmann::ordered_json parse_json_noting_duplicate_keys<nlohmann::ordered_json>(std::string_view, bool,
                                                                                        std::string&);

}  // namespace cscrub::io
