// Task names and schemas: what `cscrub dataset` and hypothesis checking look tasks up by.
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"
#include "task_schemas.hpp"

namespace cscrub::data {

std::vector<std::string> task_names() { return {"ioi", "induction", "pronoun"}; }

TaskSchema task_schema(std::string_view task) {
  if (task == "ioi") return ioi_schema();
  if (task == "induction") return induction_schema();
  if (task == "pronoun") return pronoun_schema();
  std::string known;
  for (const auto& name : task_names()) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown task '" + std::string(task) + "'" + did_you_mean(task, task_names()), "the tasks are: " + known);
}

std::vector<TaskOptionSpec> task_option_specs(std::string_view task) {
  const std::string name = task_schema(task).task;  // throws for an unknown task
  if (name == "ioi") return ioi_options();
  if (name == "induction") return induction_options();
  return pronoun_options();
}

}  // namespace cscrub::data
