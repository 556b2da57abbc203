// The tasks cscrub can generate datasets for, by name.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::data {

// Names of the available tasks ("ioi", "induction", ...).
std::vector<std::string> task_names();

// The schema of a task (features, position labels, default metric) without generating anything; throws
// cscrub::Error naming the closest task for an unknown name.
TaskSchema task_schema(std::string_view task);

// Options a task understands (e.g. {"order": "mixed"} for IOI, {"distribution": "abc"} for p_ABC).
using TaskOptions = std::map<std::string, std::string>;

// One option a task understands: its key, what values it accepts and its default ("" when none).
struct TaskOptionSpec {
  std::string key;
  std::string values;  // e.g. "baba|abba|mixed" or "N (2 to the number of pool words)"
  std::string default_value;
};

// The options of a task, for help texts; throws like task_schema for an unknown task.
std::vector<TaskOptionSpec> task_option_specs(std::string_view task);

// Generates `n` examples, deterministically from `seed` (same seed: byte-identical dataset).
Dataset make_dataset(std::string_view task, int n, uint64_t seed, const io::Tokenizer& tokenizer,
                     const TaskOptions& options = {});

}  // namespace cscrub::data
