// `cscrub dataset TASK`: generate a seeded dataset of a task and save it as JSON Lines (one prompt per line),
// for `cscrub run --dataset FILE.jsonl` or for reading elsewhere.
#include <fmt/format.h>

#include <iostream>
#include <memory>
#include <set>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/task_options.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "model_option.hpp"
#include "option_checks.hpp"

namespace cscrub::cli {
namespace {

struct DatasetOptions {
  std::string task;
  int n = 200;
  uint64_t seed = 0;
  std::vector<std::string> options;
  std::string model;
  std::string out;
};

// Tasks, their positions, features and options, from the library's own tables.
std::string tasks_help() {
  std::string help = "Tasks (datasets/README.md describes them):\n";
  for (const auto& name : data::task_names()) {
    const data::TaskSchema schema = data::task_schema(name);
    help += fmt::format("  {}: {}\n    positions: {}\n    features: {}\n", name, schema.description,
                        fmt::join(schema.positions, ", "), fmt::join(schema.features, ", "));
    for (const auto& option : data::task_option_specs(name))
      help += fmt::format("    --option {}={}{}\n", option.key, option.values,
                          option.default_value.empty() ? "" : ", default " + option.default_value);
  }
  return help;
}

void run_dataset(const DatasetOptions& options) {
  data::task_schema(options.task);  // an unknown task fails before anything is loaded
  io::CommandFiles files;
  files.add_model_inputs(options.model);
  add_task_option_inputs(files, options.options);
  files.add_output(options.out, "--out");
  files.check();
  if (options.n <= 0) throw Error("--n must be a positive number of prompts (got " + std::to_string(options.n) + ")");
  const data::TaskOptions task_options = app::parse_task_options(options.options);
  const io::Tokenizer tokenizer = io::Tokenizer::load(options.model);
  const data::Dataset dataset = data::make_dataset(options.task, options.n, options.seed, tokenizer, task_options);
  if (options.out == "-") {
    data::write_jsonl(dataset, tokenizer, std::cout);
    return;
  }
  data::write_jsonl(dataset, tokenizer, std::filesystem::path(options.out));
  std::set<std::string> groups;
  for (const auto& example : dataset.examples) groups.insert(example.group);
  fmt::print("wrote {} {} prompts ({} alignment groups) to {}\n", dataset.examples.size(), dataset.schema.task,
             groups.size(), options.out);
}

}  // namespace

void add_dataset_command(CLI::App& app) {
  auto options = std::make_shared<DatasetOptions>();
  CLI::App* command = app.add_subcommand("dataset", "generate a seeded dataset of a task as JSON Lines");
  command->add_option("task", options->task, "task name: ioi, induction, pronoun")->required();
  command->add_option("--n", options->n, "number of prompts")->capture_default_str()->check(at_least(1));
  command->add_option("--seed", options->seed, "random seed (same seed, same bytes)")->capture_default_str()->check(seed_value());
  command->add_option("--option", options->options, "task option, repeatable")->type_name("KEY=VALUE");
  add_model_option(*command, options->model);
  command->add_option("--out", options->out, "write the prompts as JSON lines (- for stdout)")->type_name("FILE.jsonl")->required();
  command->footer(tasks_help());
  command->callback([options] { run_dataset(*options); });
}

}  // namespace cscrub::cli
