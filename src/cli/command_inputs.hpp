// Filling io::CommandFiles (the check that no output overwrites an input) from the options commands share,
// so that each command lists only its own outputs.
#pragma once
#include <string>
#include <vector>

#include "cscrub/io/command_files.hpp"
#include "discover_cli.hpp"
#include "experiment_options.hpp"

namespace cscrub::cli {

// A hypothesis file and every file it extends (nothing for builtin:...).
void add_hypothesis_inputs(io::CommandFiles& files, const std::string& file_or_builtin);
// The files `--option KEY=VALUE` names (a vocabulary file, say): every value naming an existing file.
void add_task_option_inputs(io::CommandFiles& files, const std::vector<std::string>& task_options);
// What `run` and `compare` read (hypotheses, baseline, dataset, model, task option files) and their --json.
io::CommandFiles experiment_files(const app::ExperimentOptions& options, const std::vector<std::string>& hypotheses);
// For `patch`, `attribute` and `attention`: the model, dataset, pair and task option files they read must not be
// their outputs (--npy and its sidecar FILE.npy.json, --svg, --json), which must be distinct files; throws
// cscrub::Error.
void check_discover_files(const PromptOptions& prompts, const std::string& npy, const std::string& npy_option,
                          const std::string& svg,
                          const std::string& json);

}  // namespace cscrub::cli
