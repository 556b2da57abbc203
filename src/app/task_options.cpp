#include "cscrub/app/task_options.hpp"

#include "cscrub/error.hpp"

namespace cscrub::app {

data::TaskOptions parse_task_options(const std::vector<std::string>& given) {
  data::TaskOptions options;
  for (const auto& item : given) {
    const size_t equals = item.find('=');
    if (equals == std::string::npos || equals == 0)
      throw Error("--option '" + item + "' is not key=value", "e.g. --option order=abba");
    const std::string key = item.substr(0, equals);
    if (!options.emplace(key, item.substr(equals + 1)).second) throw Error("--option " + key + " is given twice");
  }
  return options;
}

}  // namespace cscrub::app
