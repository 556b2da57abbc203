// `cscrub graph FILE.toml --dot OUT.dot [--svg OUT.svg] [--png OUT.png]`: draw a (valid) hypothesis: its
// interpretation graph placed on the model's layers. Images are rendered by Graphviz's `dot`.
#include <fmt/format.h>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/dot.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/output_file.hpp"
#include "graphviz.hpp"
#include "model_option.hpp"

namespace cscrub::cli {
namespace {

struct GraphOptions {
  std::string file;
  std::string model;
  std::string task;
  std::string dot;
  std::string svg;
  std::string png;
};

void run_graph(const GraphOptions& options) {
  if (options.dot.empty() && options.svg.empty() && options.png.empty())
    throw Error("nothing to write", "give --dot OUT.dot, --svg OUT.svg and/or --png OUT.png");
  io::CommandFiles files;
  add_hypothesis_inputs(files, options.file);
  files.add_model_inputs(options.model);
  files.add_output(options.dot, "--dot");
  files.add_output(options.svg, "--svg");
  files.add_output(options.png, "--png");
  files.check();
  const engine::ModelConfig config = io::read_config(std::filesystem::path(options.model) / "config.json");
  const graph::Hypothesis hypothesis = graph::load_hypothesis(options.file, config, options.task);
  const std::string dot = graph::to_dot(hypothesis, graph::ModelGraph(config));

  // Every image is rendered before any file is written: a failing Graphviz leaves no output half made.
  const std::string svg = options.svg.empty() ? "" : render_with_graphviz(dot, "svg", options.svg);
  const std::string png = options.png.empty() ? "" : render_with_graphviz(dot, "png", options.png);
  if (!options.dot.empty()) io::write_file_atomically(options.dot, dot);
  if (!options.svg.empty()) io::write_file_atomically(options.svg, svg);
  if (!options.png.empty()) io::write_file_atomically(options.png, png);
  for (const std::string* written : {&options.dot, &options.svg, &options.png})
    if (!written->empty()) fmt::print("wrote {}\n", *written);
}

}  // namespace

void add_graph_command(CLI::App& app) {
  auto options = std::make_shared<GraphOptions>();
  CLI::App* command = app.add_subcommand(
      "graph", "Draw a hypothesis: its nodes on the model's layers, coloured by class, edges labelled by port");
  command->add_option("file", options->file, "hypothesis file (.toml), or builtin:full / builtin:none")
      ->required()
      ->type_name("FILE");
  command->add_option("--dot", options->dot, "write the graph as Graphviz source")->type_name("FILE.dot");
  command->add_option("--svg", options->svg, "draw the graph as SVG (needs Graphviz's dot)")->type_name("FILE.svg");
  command->add_option("--png", options->png, "draw the graph as PNG (needs Graphviz's dot)")->type_name("FILE.png");
  add_model_option(*command, options->model);
  command->add_option("--task", options->task, "task to check the hypothesis against (default: its own)")
      ->type_name("TASK");
  command->callback([options] { run_graph(*options); });
}

}  // namespace cscrub::cli
