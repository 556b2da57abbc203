// `cscrub circuit GRAPH.json [--top N | --threshold T] [--out CIRCUIT.json] [--toml OUT.toml] [--dot OUT.dot]
// [--svg OUT.svg]`: cuts a circuit out of a graph file's scores (greedily from the logits, as EAP-IG's
// apply_greedy, or by a threshold; without either, the file's own in_graph marks), prunes it to what connects the
// input and the logits, prints it, and writes it as graph JSON, as a hypothesis file for causal scrubbing and as
// a picture.
#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "commands.hpp"
#include "cscrub/app/circuits.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/output_file.hpp"
#include "graphviz.hpp"

namespace cscrub::cli {
namespace {

struct CircuitCommandOptions {
  app::CircuitOptions circuit;
  int top = -1;
  double threshold = std::nan("");
  std::string out, toml, dot, svg;
  int show = 20;
};

void print_circuit(const app::CircuitCut& cut, int show) {
  const nlohmann::ordered_json summary = app::circuit_json(cut);
  const discover::EdgeGraph& graph = cut.circuit.graph;
  fmt::print("{}\ncircuit: {} of {} edges, {} of {} nodes (and the logits)\n", cut.how, cut.circuit.edges_in_graph(),
             graph.edge_count(), cut.circuit.nodes_in_graph(), graph.source_count());
  if (cut.circuit.nodes_in_graph() == 0) return;
  std::string nodes;
  for (const auto& node : summary["nodes"]) nodes += (nodes.empty() ? "" : " ") + node.get<std::string>();
  fmt::print("nodes: {}\n", nodes);
  if (show <= 0) return;
  const auto& edges = summary["edges"];
  fmt::print("\n{:>4}  {:<28} {:>12}\n", "rank", "edge", "score");
  for (size_t i = 0; i < edges.size() && static_cast<int>(i) < show; ++i)
    fmt::print("{:>4}  {:<28} {:>+12.5g}\n", i + 1, edges[i]["edge"].get<std::string>(), edges[i]["score"].get<double>());
  if (static_cast<int>(edges.size()) > show) fmt::print("      ... {} more (--show)\n", edges.size() - static_cast<size_t>(show));
}

void run_circuit(CircuitCommandOptions options) {
  if (options.top >= 0) options.circuit.top = options.top;
  if (!std::isnan(options.threshold)) options.circuit.threshold = options.threshold;
  io::CommandFiles files;
  files.add_input(options.circuit.graph);
  files.add_output(options.out, "--out");
  files.add_output(options.toml, "--toml");
  files.add_output(options.dot, "--dot");
  files.add_output(options.svg, "--svg");
  files.check();

  const app::CircuitCut cut = app::cut_circuit(options.circuit);
  print_circuit(cut, options.show);
  // Every image is rendered before any file is written: a failing Graphviz leaves no output half made.
  const std::string dot = options.dot.empty() && options.svg.empty() ? "" : app::circuit_dot(cut);
  const std::string svg = options.svg.empty() ? "" : render_with_graphviz(dot, "svg", options.svg);
  if (!options.out.empty()) {
    io::write_file_atomically(options.out, app::circuit_graph_json(cut));
    fmt::print("\nwrote the circuit's graph JSON to {}\n", options.out);
  }
  if (!options.toml.empty()) {
    io::write_file_atomically(options.toml, app::circuit_toml(cut));
    fmt::print("wrote the circuit as a hypothesis to {} (task {}{}); score it with `cscrub run {}`\n", options.toml,
               cut.text.task, cut.task_guessed ? ", as the file records none: --task to change it" : "", options.toml);
  }
  if (!options.dot.empty()) {
    io::write_file_atomically(options.dot, dot);
    fmt::print("wrote the Graphviz source to {}\n", options.dot);
  }
  if (!options.svg.empty()) {
    io::write_file_atomically(options.svg, svg);
    fmt::print("wrote the picture to {}\n", options.svg);
  }
}

}  // namespace

void add_circuit_command(CLI::App& app) {
  auto options = std::make_shared<CircuitCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "circuit", "Cut a circuit from a graph file's edge scores; write it as graph JSON, a hypothesis file, a picture");
  command->add_option("graph", options->circuit.graph, "graph file (EAP-IG / MIB JSON, e.g. from `cscrub discover`)")
      ->required()
      ->type_name("GRAPH.json");
  command->add_option("--top", options->top,
                      "grow the circuit greedily from the logits to N edges (EAP-IG's apply_greedy), then prune")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--threshold", options->threshold, "keep the edges whose score is at least T, then prune")
      ->type_name("T");
  command->add_option("--ranking", options->circuit.ranking,
                      "which scores are best: absolute (largest |score|), descending or ascending")
      ->capture_default_str();
  command->add_option("--out", options->out, "write the circuit (in_graph marks set) as graph JSON")->type_name("CIRCUIT.json");
  command->add_option("--toml", options->toml, "write the circuit as a hypothesis file for check/graph/run/compare")
      ->type_name("OUT.toml");
  command->add_option("--dot", options->dot, "write the circuit's picture as Graphviz source")->type_name("OUT.dot");
  command->add_option("--svg", options->svg, "render the circuit's picture (needs Graphviz's dot)")->type_name("OUT.svg");
  command->add_option("--name", options->circuit.name, "the hypothesis's name and the picture's title");
  command->add_option("--task", options->circuit.task, "the hypothesis's task (default: the one the scores were made on)");
  command->add_option("--show", options->show, "how many of the circuit's strongest edges to print")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command->footer(
      "The hypothesis claims each node of the circuit (input: the embeddings, a{L}.h{H}: a head, m{L}: an MLP) "
      "reads exactly its circuit edges (heads through the listed q/k/v ports), evaluated on the reference prompt "
      "(feature \"prompt\"); everything else is resampled. See docs/hypothesis-format.md for what it means "
      "under causal scrubbing compared with faithfulness under patching.");
  command->callback([options] { run_circuit(*options); });
}

}  // namespace cscrub::cli
