// `cscrub check FILE.toml`: is this a valid hypothesis for this model and task? Lists every problem
// (file:line: message), or summarises the hypothesis.
#include <fmt/format.h>

#include <algorithm>

#include "commands.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
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

void run_check(const CheckOptions& options) {
  const engine::ModelConfig config = io::read_config(std::filesystem::path(options.model) / "config.json");
  const graph::Hypothesis hypothesis = graph::read_hypothesis_or_builtin(options.file, config, options.task);
  const data::TaskSchema task = graph::task_schema_for(hypothesis, options.task);
  const auto problems = graph::find_problems(hypothesis, graph::ModelGraph(config), task);
  if (!problems.empty()) {
    for (const auto& problem : problems) {
      fmt::print(stderr, "{}\n", one_line(problem.to_string()));
      if (!problem.hint.empty()) fmt::print(stderr, "  hint: {}\n", one_line(problem.hint));
    }
    throw Error(fmt::format("{}: {} problem{} (checked against {}, task {})", hypothesis.source_file, problems.size(),
                            problems.size() == 1 ? "" : "s", options.model, task.task));
  }
  print_summary(hypothesis, options.model, config, task.task);
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
  command->callback([options] { run_check(*options); });
}

}  // namespace cscrub::cli
