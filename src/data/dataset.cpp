// Name lookups of a task's schema.
#include "cscrub/data/dataset.hpp"

#include <algorithm>

namespace cscrub::data {
namespace {

std::optional<int> index_of(const std::vector<std::string>& names, const std::string& name) {
  auto found = std::find(names.begin(), names.end(), name);
  if (found == names.end()) return std::nullopt;
  return static_cast<int>(found - names.begin());
}

}  // namespace

std::optional<int> TaskSchema::feature_index(const std::string& name) const { return index_of(features, name); }

std::optional<int> TaskSchema::position_index(const std::string& name) const { return index_of(positions, name); }

}  // namespace cscrub::data
