// From a name on the command line to a checked hypothesis: the one place that asks the data layer for a
// task's schema.
#include <algorithm>

#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {

data::TaskSchema task_schema_for(const Hypothesis& hypothesis, const std::string& task_override) {
  const std::string& task = task_override.empty() ? hypothesis.defaults.task : task_override;
  const auto tasks = data::task_names();
  if (std::find(tasks.begin(), tasks.end(), task) == tasks.end()) {
    std::string where = task_override.empty() && hypothesis.task_location.line > 0
                            ? hypothesis.task_location.to_string() + ": "
                            : std::string();
    throw Error(where + "unknown task '" + task + "'" + did_you_mean(task, tasks), "the tasks are: " + join(tasks));
  }
  return data::task_schema(task);
}

Hypothesis read_hypothesis_or_builtin(const std::string& file_or_builtin, const engine::ModelConfig& config,
                                      const std::string& task_override) {
  if (is_builtin_hypothesis(file_or_builtin))
    return builtin_hypothesis(file_or_builtin, config, task_override.empty() ? Defaults{}.task : task_override);
  return read_hypothesis_file(file_or_builtin);
}

Hypothesis load_hypothesis(const std::string& file_or_builtin, const engine::ModelConfig& config,
                           const std::string& task_override) {
  Hypothesis hypothesis = read_hypothesis_or_builtin(file_or_builtin, config, task_override);
  validate(hypothesis, ModelGraph(config), task_schema_for(hypothesis, task_override));
  return hypothesis;
}

}  // namespace cscrub::graph
