// The schema of each task (feature names, position labels, metric), kept apart from the generators so that
// hypothesis checking can ask for it without any vocabulary file or tokenizer.
#pragma once
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/data/tasks.hpp"

namespace cscrub::data {

TaskSchema ioi_schema();
TaskSchema induction_schema();
TaskSchema pronoun_schema();

// The options each task's generator reads (one table for checking them and for help texts).
std::vector<TaskOptionSpec> ioi_options();
std::vector<TaskOptionSpec> induction_options();
std::vector<TaskOptionSpec> pronoun_options();

}  // namespace cscrub::data
