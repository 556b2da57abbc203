#include "task_options.hpp"

#include <algorithm>
#include <cassert>
#include <charconv>

#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::data {
namespace {

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string joined;
  for (const auto& item : items) joined += (joined.empty() ? "" : separator) + item;
  return joined;
}

}  // namespace

OptionReader::OptionReader(std::string task, const TaskOptions& options, std::vector<TaskOptionSpec> specs)
    : task_(std::move(task)), options_(options), specs_(std::move(specs)) {
  std::vector<std::string> keys;
  std::string accepted;
  for (const auto& spec : specs_) {
    keys.push_back(spec.key);
    accepted += (accepted.empty() ? "" : "; ") + spec.key + "=" + spec.values;
    if (!spec.default_value.empty()) accepted += ", default " + spec.default_value;
  }
  for (const auto& [key, value] : options_) {
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) continue;
    throw Error("task '" + task_ + "' has no option '" + key + "'" + did_you_mean(key, keys),
                keys.empty() ? "this task takes no options" : "its options are: " + accepted);
  }
}

const TaskOptionSpec& OptionReader::spec(const std::string& key) const {
  for (const auto& spec : specs_)
    if (spec.key == key) return spec;
  assert(false && "option read without a spec");
  return specs_.front();
}

std::string OptionReader::text(const std::string& key) const {
  auto found = options_.find(key);
  return found == options_.end() ? spec(key).default_value : found->second;
}

std::string OptionReader::choice(const std::string& key, const std::vector<std::string>& allowed) const {
  std::string value = text(key);
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return value;
  throw Error("task '" + task_ + "': option " + key + "='" + value + "' is not one of " + join(allowed, ", ") +
              did_you_mean(value, allowed));
}

int OptionReader::integer(const std::string& key, int min, int max, const std::string& bound_from) const {
  std::string value = text(key);
  int parsed = 0;
  auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (error != std::errc() || end != value.data() + value.size() || parsed < min || parsed > max)
    throw Error("task '" + task_ + "': option " + key + "='" + value + "'" + (given(key) ? "" : " (the default)") +
                    " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) + "]" +
                    (bound_from.empty() ? "" : ": " + bound_from),
                key + " accepts " + spec(key).values);
  return parsed;
}

std::string OptionReader::describe_given() const {
  std::string described;
  for (const auto& [key, value] : options_) described += " --option " + key + "=" + value;
  return described;
}

}  // namespace cscrub::data
