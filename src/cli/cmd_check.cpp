// `cscrub check FILE.toml`: is this a valid hypothesis for this model and task? Lists every problem
// (file:line: message), or summarises the hypothesis.
#include <fmt/format.h>

#include <algorithm>
#include <optional>

#include "commands.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/check_on_data.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/io/model_dir.hpp"
#include "model_option.hpp"
#include "one_line.hpp"

namespace cscrub::cli {
namespace {

struct CheckOptions {
  std::string file;
  std::string model;
  std::string task;
  std::string dataset_file;
  int n = 0;  // 0: the file's [defaults] n
  uint64_t seed = 0;
};

std::string components_text(const graph::InterpNode& node) {
  std::vector<std::string> names;
  for (const auto& component : node.components) names.push_back(graph::to_string(component));
  return fmt::format("{}", fmt::join(names, " "));
}

std::string positions_text(const graph::PositionSpec& positions) {
  if (positions.all()) return "all";
  std::vector<std::string> names = positions.labels;
  for (int index : positions.indices) names.push_back(std::to_string(index));
  return fmt::format("{}", fmt::join(names, " "));
}

std::string plural(int count, const char* noun) { return fmt::format("{} {}{}", count, noun, count == 1 ? "" : "s"); }

void print_summary(const graph::Hypothesis& hypothesis, const std::string& model_dir, const engine::ModelConfig& config,
                   const std::string& task) {
  const graph::Summary summary = graph::summarize(hypothesis);
  fmt::print("{}: OK, valid for {} ({} layers x {} heads), task {}\n", hypothesis.source_file, model_dir,
             config.n_layer, config.n_head, task);
  fmt::print("  {}\n", hypothesis.name);
  fmt::print("  {} (with the output), {}; {}, {}{}\n", plural(summary.nodes, "node"), plural(summary.edges, "edge"),
             plural(summary.heads, "head"), plural(summary.mlps, "MLP"), summary.embed ? ", embeddings" : "");

  // One row per node, columns as wide as their widest cell.
  std::vector<std::vector<std::string>> rows = {{"node", "class", "components", "positions", "feature", "rest"}};
  for (const auto& node : hypothesis.nodes)
    rows.push_back({node.name, node.node_class, components_text(node), positions_text(node.positions),
                    fmt::format("{}", fmt::join(node.feature, "+")),
                    node.rest == graph::InterpNode::Rest::same ? "same" : "random"});
  std::vector<size_t> widths(rows.front().size(), 0);
  for (const auto& row : rows)
    for (size_t column = 0; column < row.size(); ++column) widths[column] = std::max(widths[column], row[column].size());
  for (const auto& row : rows) {
    std::string line = " ";
    for (size_t column = 0; column < row.size(); ++column)
      line += fmt::format(" {:<{}}", row[column], column + 1 == row.size() ? 0 : widths[column] + 1);
    fmt::print("{}\n", line);
  }
  std::vector<std::string> classes;
  for (const auto& [name, count] : summary.classes)
    if (name != "output") classes.push_back(fmt::format("{} ({})", name, count));
  if (!classes.empty()) fmt::print("  components per class: {}\n", fmt::join(classes, ", "));
}

// The prompts the claims are checked on: --dataset, or the task's prompts generated with the model's
// tokenizer; none when the model directory has no tokenizer (GPT-2 small's config alone).
std::optional<data::Dataset> prompts_to_check(const CheckOptions& options, const graph::Hypothesis& hypothesis,
                                              const std::string& task) {
  if (!options.dataset_file.empty()) {
    data::Dataset dataset = data::read_jsonl(options.dataset_file);
    if (dataset.schema.task != task)
      throw Error(options.dataset_file + ": a '" + dataset.schema.task + "' dataset, but the hypothesis is about task '" +
                  task + "'");
    return dataset;
  }
  const std::optional<io::Tokenizer> tokenizer = app::load_tokenizer_if_present(options.model);
  if (!tokenizer) return std::nullopt;
  return data::make_dataset(task, options.n > 0 ? options.n : hypothesis.defaults.n, options.seed, *tokenizer);
}

void run_check(const CheckOptions& options) {
  const engine::ModelConfig config = io::read_config(std::filesystem::path(options.model) / "config.json");
  const graph::Hypothesis hypothesis = graph::read_hypothesis_or_builtin(options.file, config, options.task);
  const data::TaskSchema task = graph::task_schema_for(hypothesis, options.task);
  auto problems = graph::find_problems(hypothesis, graph::ModelGraph(config), task);
  // Where labels and indices meet, and whether edges reach their child, depends on the prompts.
  std::optional<data::Dataset> prompts;
  if (problems.empty()) {
    prompts = prompts_to_check(options, hypothesis, task.task);
    if (prompts) problems = graph::find_problems_on_data(hypothesis, *prompts);
  }
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      fmt::print(stderr, "{}\n", one_line(problem.to_string()));
      if (!problem.hint.empty()) fmt::print(stderr, "  hint: {}\n", one_line(problem.hint));
    }
    throw Error(fmt::format("{}: {} problem{} (checked against {}, task {})", hypothesis.source_file, problems.size(),
                            problems.size() == 1 ? "" : "s", options.model, task.task));
  }
  print_summary(hypothesis, options.model, config, task.task);
  if (prompts)
    fmt::print("  checked on {} prompts ({}): no component claimed twice at one token, every edge reaches its child\n",
               prompts->examples.size(),
               options.dataset_file.empty() ? fmt::format("task {}, seed {}", task.task, options.seed) : options.dataset_file);
  else
    fmt::print("  not checked on prompts (the model directory has no tokenizer): `cscrub run` checks positions that "
               "depend on them, or give --dataset FILE\n");
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto options = std::make_shared<CheckOptions>();
  CLI::App* command = app.add_subcommand(
      "check", "Check a hypothesis file against a model and a task; list every problem or summarise it");
  command->add_option("file", options->file, "hypothesis file (.toml), or builtin:full / builtin:none")
      ->required()
      ->type_name("FILE");
  add_model_option(*command, options->model);
  command->add_option("--task", options->task, "task whose features and positions to check against "
                                               "(default: the file's [defaults] task)")
      ->type_name("TASK");
  command->add_option("--dataset", options->dataset_file,
                      "check the positions on these prompts (default: the task's, generated with the model's tokenizer)")
      ->type_name("FILE");
  command->add_option("--n", options->n, "prompts to generate for that (default: the file's [defaults] n)");
  command->add_option("--seed", options->seed, "their seed")->capture_default_str();
  command->callback([options] { run_check(*options); });
}

}  // namespace cscrub::cli
