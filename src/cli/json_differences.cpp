#include "json_differences.hpp"

#include "cscrub/io/json_excerpt.hpp"

namespace cscrub::cli {
namespace {

using Json = nlohmann::json;

// A JSON pointer's escaping of one key (RFC 6901).
std::string pointer_token(const std::string& key) {
  std::string token;
  for (const char c : key) token += c == '~' ? "~0" : c == '/' ? "~1" : std::string(1, c);
  return token;
}

class Differ {
 public:
  explicit Differ(size_t limit) : limit_(limit) {}

  void compare(const Json* recorded, const Json* now, const std::string& path) {
    if (recorded && now) {
      if (recorded->is_object() && now->is_object()) return compare_objects(*recorded, *now, path);
      if (recorded->is_array() && now->is_array()) return compare_arrays(*recorded, *now, path);
      // Scalars, or a container against a scalar: no recursion. 5 read back from a record equals the int 5.
      if (*recorded == *now) return;
    }
    ++result_.count;
    if (result_.listed.size() < limit_)
      result_.listed.push_back({path, recorded ? io::json_excerpt(*recorded) : "(absent)",
                                now ? io::json_excerpt(*now) : "(absent)"});
  }

  JsonDifferences take() { return std::move(result_); }

 private:
  void compare_objects(const Json& recorded, const Json& now, const std::string& path) {
    for (const auto& [key, value] : recorded.items()) {
      const auto other = now.find(key);
      compare(&value, other == now.end() ? nullptr : &*other, path + "/" + pointer_token(key));
    }
    for (const auto& [key, value] : now.items())
      if (!recorded.contains(key)) compare(nullptr, &value, path + "/" + pointer_token(key));
  }

  void compare_arrays(const Json& recorded, const Json& now, const std::string& path) {
    const size_t longest = std::max(recorded.size(), now.size());
    for (size_t i = 0; i < longest; ++i)
      compare(i < recorded.size() ? &recorded[i] : nullptr, i < now.size() ? &now[i] : nullptr,
              path + "/" + std::to_string(i));
  }

  size_t limit_;
  JsonDifferences result_;
};

}  // namespace

JsonDifferences json_differences(const Json& recorded, const Json& now, size_t limit) {
  Differ differ(limit);
  differ.compare(&recorded, &now, "");
  return differ.take();
}

}  // namespace cscrub::cli
