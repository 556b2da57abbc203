// `cscrub circuit GRAPH.json [--top N | --threshold T] [--out CIRCUIT.json] [--toml OUT.toml] [--dot OUT.dot]
// [--svg OUT.svg]`: cuts a circuit out of a graph file's scores (greedily from the logits, as EAP-IG's
// apply_greedy, or by a threshold; without either, the file's own in_graph marks), prunes it to what connects the
// input and the logits, prints it, and writes it as graph JSON, as a hypothesis file for causal scrubbing and as
// a picture.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <numeric>

#include "commands.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/circuit_export.hpp"
#include "cscrub/discover/circuit_selection.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/output_file.hpp"
#include "graph_file.hpp"
#include "graphviz.hpp"

namespace cscrub::cli {
namespace {

struct CircuitOptions {
  std::string graph;
  int top = -1;
  double threshold = std::nan("");
  std::string ranking = "absolute";
  std::string out, toml, dot, svg;
  std::string name, task;
  int show = 20;
};

// The task a hypothesis made from the file should name: --task, else the one the scores were made on if it
// is a task cscrub generates, else IOI.
std::string task_for(const CircuitOptions& options, const GraphFile& file, bool& guessed) {
  guessed = false;
  if (!options.task.empty()) {
    data::task_schema(options.task);  // an unknown task fails here, naming the closest
    return options.task;
  }
  const auto tasks = data::task_names();
  if (file.provenance && std::find(tasks.begin(), tasks.end(), file.provenance->task) != tasks.end())
    return file.provenance->task;
  guessed = true;
  return "ioi";
}

void print_circuit(const discover::ScoredGraph& circuit, int show) {
  const discover::EdgeGraph& graph = circuit.graph;
  fmt::print("circuit: {} of {} edges, {} of {} nodes (and the logits)\n", circuit.edges_in_graph(), graph.edge_count(),
             circuit.nodes_in_graph(), graph.source_count());
  if (circuit.nodes_in_graph() == 0) return;
  std::string nodes;
  for (int s = 0; s < graph.source_count(); ++s)
    if (circuit.node_in_graph[static_cast<size_t>(s)]) nodes += (nodes.empty() ? "" : " ") + graph.source_name(s);
  fmt::print("nodes: {}\n", nodes);
  std::vector<size_t> edges;
  for (size_t e = 0; e < circuit.edge_in_graph.size(); ++e)
    if (circuit.edge_in_graph[e]) edges.push_back(e);
  std::stable_sort(edges.begin(), edges.end(),
                   [&](size_t a, size_t b) { return std::abs(circuit.scores[a]) > std::abs(circuit.scores[b]); });
  if (show <= 0) return;
  fmt::print("\n{:>4}  {:<28} {:>12}\n", "rank", "edge", "score");
  for (size_t i = 0; i < edges.size() && static_cast<int>(i) < show; ++i)
    fmt::print("{:>4}  {:<28} {:>+12.5g}\n", i + 1, graph.edge_name(graph.edges()[edges[i]]), circuit.scores[edges[i]]);
  if (static_cast<int>(edges.size()) > show) fmt::print("      ... {} more (--show)\n", edges.size() - static_cast<size_t>(show));
}

void run_circuit(const CircuitOptions& options) {
  if (options.top >= 0 && !std::isnan(options.threshold))
    throw Error("--top and --threshold both given: a circuit is cut one way", "give one of them, or neither to keep the file's marks");
  const discover::Ranking ranking = discover::parse_ranking(options.ranking);
  io::CommandFiles files;
  files.add_input(options.graph);
  files.add_output(options.out, "--out");
  files.add_output(options.toml, "--toml");
  files.add_output(options.dot, "--dot");
  files.add_output(options.svg, "--svg");
  files.check();

  GraphFile file = read_graph_file(options.graph);
  discover::ScoredGraph circuit = file.graph;
  if (options.top >= 0) {
    if (options.top > circuit.graph.edge_count())
      throw Error(fmt::format("--top {}: the graph has {} edges", options.top, circuit.graph.edge_count()));
    discover::select_greedy(circuit, options.top, ranking);
    fmt::print("{} edges chosen greedily from the logits by {} score, then pruned\n", options.top,
               discover::to_string(ranking));
  } else if (!std::isnan(options.threshold)) {
    discover::select_threshold(circuit, options.threshold, ranking);
    fmt::print("edges whose {} score is at least {} kept, then pruned\n", discover::to_string(ranking), options.threshold);
  } else {
    const int marked = circuit.edges_in_graph();
    discover::prune(circuit);
    fmt::print("the file's {} in_graph edges, pruned\n", marked);
  }
  print_circuit(circuit, options.show);

  bool guessed = false;
  discover::CircuitText text;
  text.task = task_for(options, file, guessed);
  text.origin = std::filesystem::path(options.graph).filename().string();
  text.name = options.name.empty() ? fmt::format("circuit of {} ({} edges)", text.origin, circuit.edges_in_graph())
                                   : options.name;
  if (file.provenance) {
    text.description = fmt::format("{} scores ({}{}{}), {} edges", file.provenance->method, file.provenance->metric,
                                   file.provenance->pairs > 0 ? fmt::format(", {} pairs", file.provenance->pairs) : "",
                                   file.provenance->corruption.empty() ? "" : ", " + file.provenance->corruption,
                                   circuit.edges_in_graph());
    if (file.provenance->metric == "logit_diff" || file.provenance->metric == "prob_diff" ||
        file.provenance->metric == "loss")
      text.metric = file.provenance->metric;
  }
  // Every image is rendered before any file is written: a failing Graphviz leaves no output half made.
  const std::string dot = options.dot.empty() && options.svg.empty() ? "" : discover::circuit_dot(circuit, text);
  const std::string svg = options.svg.empty() ? "" : render_with_graphviz(dot, "svg", options.svg);
  if (!options.out.empty()) {
    const std::string json = file.provenance ? discover::to_graph_json(circuit, *file.provenance) : discover::to_graph_json(circuit);
    io::write_file_atomically(options.out, json);
    fmt::print("\nwrote the circuit's graph JSON to {}\n", options.out);
  }
  if (!options.toml.empty()) {
    io::write_file_atomically(options.toml, discover::circuit_hypothesis_toml(circuit, text));
    fmt::print("wrote the circuit as a hypothesis to {} (task {}{}); score it with `cscrub run {}`\n", options.toml,
               text.task, guessed ? ", as the file records none: --task to change it" : "", options.toml);
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
  auto options = std::make_shared<CircuitOptions>();
  CLI::App* command = app.add_subcommand(
      "circuit", "Cut a circuit from a graph file's edge scores; write it as graph JSON, a hypothesis file, a picture");
  command->add_option("graph", options->graph, "graph file (EAP-IG / MIB JSON, e.g. from `cscrub discover`)")
      ->required()
      ->type_name("GRAPH.json");
  command->add_option("--top", options->top,
                      "grow the circuit greedily from the logits to N edges (EAP-IG's apply_greedy), then prune")
      ->type_name("N")
      ->check(CLI::NonNegativeNumber);
  command->add_option("--threshold", options->threshold, "keep the edges whose score is at least T, then prune")
      ->type_name("T");
  command->add_option("--ranking", options->ranking,
                      "which scores are best: absolute (largest |score|), descending or ascending")
      ->capture_default_str();
  command->add_option("--out", options->out, "write the circuit (in_graph marks set) as graph JSON")->type_name("CIRCUIT.json");
  command->add_option("--toml", options->toml, "write the circuit as a hypothesis file for check/graph/run/compare")
      ->type_name("OUT.toml");
  command->add_option("--dot", options->dot, "write the circuit's picture as Graphviz source")->type_name("OUT.dot");
  command->add_option("--svg", options->svg, "render the circuit's picture (needs Graphviz's dot)")->type_name("OUT.svg");
  command->add_option("--name", options->name, "the hypothesis's name and the picture's title");
  command->add_option("--task", options->task, "the hypothesis's task (default: the one the scores were made on)");
  command->add_option("--show", options->show, "how many of the circuit's strongest edges to print")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  command->callback([options] { run_circuit(*options); });
}

}  // namespace cscrub::cli
