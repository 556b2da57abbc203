#include "command_inputs.hpp"

#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "labelled_arrays.hpp"

namespace cscrub::cli {

void add_hypothesis_inputs(io::CommandFiles& files, const std::string& file_or_builtin) {
  if (graph::is_builtin_hypothesis(file_or_builtin)) return;
  for (const auto& file : graph::hypothesis_files(file_or_builtin)) files.add_input(file);
}

void add_task_option_inputs(io::CommandFiles& files, const std::vector<std::string>& task_options) {
  for (const std::string& option : task_options) {
    const size_t equals = option.find('=');
    if (equals != std::string::npos) files.add_input(option.substr(equals + 1));  // skipped unless a file
  }
}

io::CommandFiles experiment_files(const app::ExperimentOptions& options, const std::vector<std::string>& hypotheses) {
  io::CommandFiles files;
  for (const std::string& hypothesis : hypotheses) add_hypothesis_inputs(files, hypothesis);
  add_hypothesis_inputs(files, options.baseline);
  files.add_input(options.dataset_file);
  files.add_model_inputs(options.model);
  add_task_option_inputs(files, options.task_options);
  files.add_output(options.json_out, "--json");
  return files;
}

void check_discover_files(const PromptOptions& prompts, const std::string& npy, const std::string& npy_option,
                          const std::string& svg,
                          const std::string& json) {
  io::CommandFiles files;
  files.add_model_inputs(prompts.model);
  files.add_input(prompts.dataset);
  add_task_option_inputs(files, prompts.task_options);
  files.add_input(prompts.pairs);
  files.add_output(npy, npy_option);
  if (!npy.empty()) files.add_output(sidecar_path(npy), npy_option + "'s sidecar");
  files.add_output(svg, "--svg");
  files.add_output(json, "--json");
  files.check();
}

}  // namespace cscrub::cli
