// `--option key=value` (repeatable) -> data::TaskOptions, for every command that generates a dataset.
#pragma once
#include <string>
#include <vector>

#include "cscrub/data/tasks.hpp"

namespace cscrub::app {

// Throws cscrub::Error for an item that is not key=value or a key given twice.
data::TaskOptions parse_task_options(const std::vector<std::string>& given);

}  // namespace cscrub::app
