// `cscrub faithfulness GRAPH.json ... (--pairs FILE | --task T --n N --seed S) [--ablation counterfactual|mean]
// [--sizes ...] [--metric M] [--svg OUT.svg] [--json OUT.json]`: MIB's faithfulness curves of one or more score files on the same pairs:
// circuits of the top edges at each size, each evaluated with the edges outside it ablated; the normalized
// faithfulness, CPR and CMD; one table per file, one plot for all.
#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/discover/faithfulness.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "discover_cli.hpp"
#include "graph_file.hpp"
#include "svg_line_chart.hpp"

namespace cscrub::cli {
namespace {

struct FaithfulnessOptions {
  std::vector<std::string> graphs;
  PromptOptions prompts;
  std::string ablation = "counterfactual";
  std::string sizes;
  std::string metric = "logit_diff";
  std::string signed_order = "auto";
  bool greedy = false;
  std::string svg, json;
};

std::vector<double> parse_sizes(const std::string& text) {
  if (text.empty()) return discover::mib_sizes();
  std::vector<double> sizes;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    try {
      size_t used = 0;
      sizes.push_back(std::stod(item, &used));
      if (used != item.size()) throw std::invalid_argument(item);
    } catch (const std::exception&) {
      throw Error("--sizes: '" + item + "' is not a number", "fractions of the edges, e.g. --sizes 0.01,0.1,0.5,1");
    }
    start = end + 1;
  }
  discover::check_sizes(sizes);
  return sizes;
}

// The signed ranking that puts a file's important edges first: for a metric where higher is better, corrupting
// an important edge lowers it (a negative score); for KL or a loss it raises it. Files without cscrub's record
// (EAP-IG, MIB) follow MIB's convention: positive means important.
discover::Ranking importance_first(const FaithfulnessOptions& options, const GraphFile& file) {
  if (options.signed_order != "auto") return discover::parse_ranking(options.signed_order);
  if (file.provenance && file.provenance->higher_is_better) return discover::Ranking::ascending;
  return discover::Ranking::descending;
}

// The smallest point of `curve` reaching `level`, or nullptr.
const discover::CircuitPoint* smallest_reaching(const discover::FaithfulnessCurve& curve, double level) {
  for (const discover::CircuitPoint& point : curve.points)
    if (point.faithfulness >= level) return &point;
  return nullptr;
}

std::string size_label(double fraction) {
  return fraction * 100 >= 1 ? fmt::format("{:g}%", fraction * 100) : fmt::format("{:.1f}%", fraction * 100);
}

void print_curves(const GraphFile& file, const std::vector<discover::FaithfulnessCurve>& curves) {
  const discover::FaithfulnessCurve& absolute = curves[0];
  const discover::FaithfulnessCurve& importance = curves[1];
  fmt::print("\n{}: {} edges scored{}\n", graph_label(file), file.graph.graph.edge_count(),
             file.provenance ? fmt::format(" ({} on {})", file.provenance->metric, file.provenance->task) : "");
  fmt::print("  {:>7}  {:>14} {:>12}   {:>14} {:>12}\n", "size", "edges by |s|", "faithful", "edges, signed",
             "faithful");
  for (size_t i = 0; i < absolute.points.size(); ++i) {
    const auto& a = absolute.points[i];
    const auto& s = importance.points[i];
    fmt::print("  {:>7}  {:>14} {:>12.4f}   {:>14} {:>12.4f}\n", size_label(a.fraction),
               fmt::format("{}/{}", a.edges, a.requested), a.faithfulness, fmt::format("{}/{}", s.edges, s.requested),
               s.faithfulness);
  }
  fmt::print("  CPR {:.4f} (area under the curve of circuits by signed score, {} first)\n", importance.area_under,
             importance.ranking == discover::Ranking::ascending ? "most negative" : "most positive");
  fmt::print("  CMD {:.4f} (area under |1 - faithfulness| of circuits by |score|)\n", absolute.area_from_one);
  if (const auto* point = smallest_reaching(absolute, 0.9))
    fmt::print("  smallest circuit by |score| with faithfulness >= 0.9: {} of the edges ({} edges, {:.4f})\n",
               size_label(point->fraction), point->edges, point->faithfulness);
  else
    fmt::print("  no circuit by |score| reaches faithfulness 0.9 at these sizes\n");
}

nlohmann::ordered_json curve_json(const discover::FaithfulnessCurve& curve) {
  nlohmann::ordered_json points = nlohmann::ordered_json::array();
  for (const discover::CircuitPoint& point : curve.points)
    points.push_back({{"fraction", point.fraction}, {"requested_edges", point.requested}, {"edges", point.edges},
                      {"metric", point.metric}, {"faithfulness", point.faithfulness}});
  return {{"ranking", discover::to_string(curve.ranking)}, {"greedy", curve.greedy}, {"points", std::move(points)},
          {"area_under", curve.area_under}, {"area_from_one", curve.area_from_one}};
}

void run_faithfulness(const FaithfulnessOptions& options) {
  check_prompt_options(options.prompts);
  const std::vector<double> sizes = parse_sizes(options.sizes);
  const discover::CircuitAblation ablation = discover::parse_circuit_ablation(options.ablation);
  const discover::Metric metric = discover::parse_metric(options.metric);
  if (options.signed_order != "auto") discover::parse_ranking(options.signed_order);
  io::CommandFiles files;
  for (const std::string& graph : options.graphs) files.add_input(graph);
  files.add_input(options.prompts.pairs);
  files.add_model_inputs(options.prompts.model);
  add_task_option_inputs(files, options.prompts.task_options);
  files.add_output(options.svg, "--svg");
  files.add_output(options.json, "--json");
  files.check();

  std::vector<GraphFile> graphs;
  for (const std::string& path : options.graphs) graphs.push_back(read_graph_file(path));
  const LoadedModel model = load_model_and_tokenizer(options.prompts.model, options.prompts.matmul);
  const discover::GraphShape shape = discover::graph_shape(model.weights.config);
  for (const GraphFile& file : graphs) discover::check_graph_matches(file.graph, shape, file.path);
  const discover::PairedDataset pairs = load_pairs(options.prompts, model);
  const discover::EdgeGraph graph(shape);

  discover::CircuitEvaluator evaluator(model.weights, graph, pairs, ablation, metric, options.prompts.batch_size, false);
  std::vector<std::vector<discover::FaithfulnessCurve>> all_curves;
  discover::FaithfulnessReference reference;
  {
    ProgressBar bar(!options.prompts.quiet);
    for (const GraphFile& file : graphs)
      all_curves.push_back(discover::faithfulness_curves(
          evaluator, file.graph, sizes, {discover::Ranking::absolute, importance_first(options, file)}, options.greedy,
          reference, progress_on(bar, "evaluating circuits of " + std::filesystem::path(file.path).filename().string())));
  }
  require_finite_metric(reference.model, "mean " + options.metric);
  fmt::print("model: {} ({} layers x {} heads, {} edges)\n", model.dir.string(), model.weights.config.n_layer,
             model.weights.config.n_head, graph.edge_count());
  fmt::print("pairs: {}, corrupted: {}\n", describe_prompts(options.prompts, pairs.clean.examples.size()),
             pairs.corruption);
  fmt::print("metric: {} = {} at the last position ({} is better); model {:.4f}, empty circuit {:.4f}\n",
             options.metric, discover::describe(metric), discover::higher_is_better(metric) ? "higher" : "lower",
             reference.model, reference.empty);
  fmt::print("circuits: the top edges at each size ({}), pruned; the edges outside each carry {}\n",
             options.greedy ? "grown greedily from the logits" : "MIB's top-n",
             ablation == discover::CircuitAblation::counterfactual ? "the corrupted prompt's activations"
                                                                    : "their mean over the corrupted prompts");
  fmt::print("faithfulness = (m(circuit) - m(empty)) / (m(model) - m(empty))\n");
  for (size_t f = 0; f < graphs.size(); ++f) print_curves(graphs[f], all_curves[f]);

  if (!options.svg.empty()) {
    LineChart chart{.title = "Faithfulness of circuits by size",
                    .subtitle = fmt::format("{} \u00b7 {} {} pairs ({}) \u00b7 {} ablation \u00b7 {}; solid: by |score|, "
                                            "dashed: by signed score",
                                            model_name(model.dir), pairs.clean.examples.size(),
                                            pairs.clean.schema.task, pairs.corruption, discover::to_string(ablation), options.metric),
                    .x_label = "circuit size (share of the edges, log scale)",
                    .y_label = "normalized faithfulness",
                    .reference_lines = {0.0, 1.0},
                    .series = {}};
    for (size_t f = 0; f < graphs.size(); ++f)
      for (size_t c = 0; c < all_curves[f].size(); ++c) {
        LineSeries series{.label = "", .x = {}, .y = {}, .dashed = c == 1, .colour = static_cast<int>(f)};
        const auto& curve = all_curves[f][c];
        series.label = fmt::format("{} {} ({} {:.2f})", graph_label(graphs[f]), c == 0 ? "|s|" : "signed",
                                   c == 0 ? "CMD" : "CPR", c == 0 ? curve.area_from_one : curve.area_under);
        for (const auto& point : curve.points) {
          series.x.push_back(point.fraction);
          series.y.push_back(point.faithfulness);
        }
        chart.series.push_back(std::move(series));
      }
    io::write_file_atomically(options.svg, svg_line_chart(chart));
    fmt::print("\nwrote the plot to {}\n", options.svg);
  }
  if (!options.json.empty()) {
    nlohmann::ordered_json root;
    root["model"] = model.dir.string();
    root["prompts"] = describe_prompts(options.prompts, pairs.clean.examples.size());
    root["task"] = pairs.clean.schema.task;
    root["pairs"] = pairs.clean.examples.size();
    root["corruption"] = pairs.corruption;
    root["metric"] = options.metric;
    root["ablation"] = discover::to_string(ablation);
    root["model_metric"] = reference.model;
    root["empty_metric"] = reference.empty;
    root["sizes"] = sizes;
    nlohmann::ordered_json results = nlohmann::ordered_json::array();
    for (size_t f = 0; f < graphs.size(); ++f) {
      nlohmann::ordered_json curves = nlohmann::ordered_json::array();
      for (const auto& curve : all_curves[f]) curves.push_back(curve_json(curve));
      results.push_back({{"file", graphs[f].path},
                         {"method", graphs[f].provenance ? graphs[f].provenance->method : ""},
                         {"cpr", all_curves[f][1].area_under},
                         {"cmd", all_curves[f][0].area_from_one},
                         {"curves", std::move(curves)}});
    }
    root["files"] = std::move(results);
    io::write_file_atomically(options.json, root.dump(2) + "\n");
    fmt::print("wrote the curves to {}\n", options.json);
  }
}

}  // namespace

void add_faithfulness_command(CLI::App& app) {
  auto options = std::make_shared<FaithfulnessOptions>();
  CLI::App* command = app.add_subcommand(
      "faithfulness", "MIB's faithfulness curves, CPR and CMD of circuits cut from one or more score files");
  command->add_option("graphs", options->graphs, "graph files with edge scores (EAP-IG / MIB JSON)")
      ->required()
      ->type_name("GRAPH.json ...");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  command->add_option("--ablation", options->ablation,
                      "what an edge outside a circuit carries: counterfactual (the corrupted prompt's activation) or "
                      "mean (its mean over the corrupted prompts)")
      ->capture_default_str();
  command->add_option("--sizes", options->sizes, "circuit sizes as fractions of the edges (default MIB's grid, "
                                                 "0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1)")
      ->type_name("F,F,...");
  command->add_option("--metric", options->metric, "metric at the last position: logit_diff, prob_diff, kl or loss")
      ->capture_default_str();
  command->add_option("--signed-order", options->signed_order,
                      "for CPR, which signed scores come first: auto (from the file's record; else positive, as MIB), "
                      "descending or ascending")
      ->capture_default_str();
  command->add_flag("--greedy", options->greedy, "grow circuits greedily from the logits (EAP-IG's apply_greedy)");
  command->add_option("--svg", options->svg, "plot every file's curves")->type_name("OUT.svg");
  command->add_option("--json", options->json, "write the curves, CPR and CMD")->type_name("OUT.json");
  command->callback([options] { run_faithfulness(*options); });
}

}  // namespace cscrub::cli
