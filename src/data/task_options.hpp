// Reading a task's --option key=value settings: unknown keys and bad values are user errors that name the
// task, the option and what it accepts.
#pragma once
#include <string>
#include <vector>

#include "cscrub/data/tasks.hpp"

namespace cscrub::data {

class OptionReader {
 public:
  // Throws cscrub::Error for a key not among `specs`, naming the closest one.
  OptionReader(std::string task, const TaskOptions& options, std::vector<TaskOptionSpec> specs);

  // The value of `key` (its default if not given); must be one of `allowed`.
  std::string choice(const std::string& key, const std::vector<std::string>& allowed) const;
  // The value of `key` as an integer in [min, max]; `bound_from` says where a bound comes from when it is
  // not the option's own (e.g. "FILE lists 5 words"), for the error.
  int integer(const std::string& key, int min, int max, const std::string& bound_from = {}) const;
  // The value of `key` as given, or its default.
  std::string text(const std::string& key) const;
  bool given(const std::string& key) const { return options_.count(key) > 0; }
  // The options as given, as " --option key=value" pieces (for a dataset's generator line).
  std::string describe_given() const;

 private:
  const TaskOptionSpec& spec(const std::string& key) const;
  std::string task_;
  const TaskOptions& options_;
  std::vector<TaskOptionSpec> specs_;
};

}  // namespace cscrub::data
