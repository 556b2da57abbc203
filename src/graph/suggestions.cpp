#include "suggestions.hpp"

#include <algorithm>

#include "cscrub/suggest.hpp"

namespace cscrub::graph {

std::string closest_name(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best = closest_match(name, candidates);
  if (best.empty()) return best;
  const size_t distance = edit_distance(name, best);
  const size_t longest = std::max(name.size(), best.size());
  const bool prefix = name.size() >= 2 && (best.starts_with(name) || std::string_view(name).starts_with(best));
  if (distance <= std::max<size_t>(2, longest / 2) || prefix) return best;
  // A longer candidate that merely extends what was typed ("io" -> "io_name") beats a distant one.
  for (const auto& candidate : candidates)
    if (name.size() >= 2 && candidate.starts_with(name)) return candidate;
  return {};
}

std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates) {
  std::string best = closest_name(name, candidates);
  return best.empty() ? std::string() : " (did you mean '" + best + "'?)";
}

std::string join(const std::vector<std::string>& names, std::string_view separator) {
  std::string text;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) text += separator;
    text += names[i];
  }
  return text;
}

}  // namespace cscrub::graph
