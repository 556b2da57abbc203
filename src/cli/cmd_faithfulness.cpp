// `cscrub faithfulness GRAPH.json ... (--pairs FILE | --dataset FILE | --task T --n N --seed S) [--ablation ...]
// [--sizes ...] [--metric M] [--svg OUT.svg] [--json OUT.json]`: MIB's faithfulness curves of one or more score
// files on the same pairs (app/circuits.hpp): circuits of the top edges at each size, each evaluated with the
// edges outside it ablated; the normalized faithfulness, CPR and CMD; one table per file, one plot for all; with
// several files, how alike they rank the edges.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <optional>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/circuits.hpp"
#include "cscrub/app/ranks_work.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "discover_cli.hpp"
#include "svg_line_chart.hpp"

namespace cscrub::cli {
namespace {

struct FaithfulnessCommandOptions {
  app::FaithfulnessOptions run;
  PromptOptions prompts;
  std::string sizes;
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

std::string size_label(double fraction) {
  return fraction * 100 >= 1 ? fmt::format("{:g}%", fraction * 100) : fmt::format("{:.1f}%", fraction * 100);
}

void print_curves(const app::GraphFile& file, const std::vector<discover::FaithfulnessCurve>& curves) {
  const discover::FaithfulnessCurve& absolute = curves[0];
  const discover::FaithfulnessCurve& importance = curves[1];
  fmt::print("\n{}: {} edges scored{}\n", app::graph_label(file), file.graph.graph.edge_count(),
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
  if (const auto* point = app::smallest_reaching(absolute, 0.9))
    fmt::print("  smallest circuit by |score| with faithfulness >= 0.9: {} of the edges ({} edges, {:.4f})\n",
               size_label(point->fraction), point->edges, point->faithfulness);
  else
    fmt::print("  no circuit by |score| reaches faithfulness 0.9 at these sizes\n");
}

void print_rank_agreement(const app::FaithfulnessRun& run) {
  if (run.rank_agreement.empty()) return;
  fmt::print("\nrank agreement of the scores (Spearman's rho on |score|; strongest {} edges in common):\n",
             app::FaithfulnessRun::kRankTop);
  for (const auto& pair : run.rank_agreement)
    fmt::print("  {} vs {}: rho {}, {} of {}\n", app::graph_label(run.files[pair.first]),
               app::graph_label(run.files[pair.second]),
               std::isnan(pair.spearman) ? std::string("undefined (a file scores every edge alike)")
                                         : fmt::format("{:.3f}", pair.spearman),
               pair.common_top, std::min(app::FaithfulnessRun::kRankTop, run.files[pair.first].graph.graph.edge_count()));
}

std::string plot(const app::FaithfulnessRun& run) {
  LineChart chart{.title = "Faithfulness of circuits by size",
                  .subtitle = fmt::format("{} \u00b7 {} ({}) \u00b7 {} ablation \u00b7 {}; solid: by |score|, "
                                          "dashed: by signed score",
                                          model_name(run.model_dir), run.prompts, run.corruption,
                                          discover::to_string(run.ablation), discover::to_string(run.metric)),
                  .x_label = "circuit size (share of the edges, log scale)",
                  .y_label = "normalized faithfulness",
                  .reference_lines = {0.0, 1.0},
                  .series = {}};
  for (size_t f = 0; f < run.files.size(); ++f)
    for (size_t c = 0; c < run.curves[f].size(); ++c) {
      const auto& curve = run.curves[f][c];
      LineSeries series{.label = fmt::format("{} {} ({} {:.2f})", app::graph_label(run.files[f]), c == 0 ? "|s|" : "signed",
                                             c == 0 ? "CMD" : "CPR", c == 0 ? curve.area_from_one : curve.area_under),
                        .x = {}, .y = {}, .dashed = c == 1, .colour = static_cast<int>(f)};
      for (const auto& point : curve.points) {
        series.x.push_back(point.fraction);
        series.y.push_back(point.faithfulness);
      }
      chart.series.push_back(std::move(series));
    }
  return svg_line_chart(chart);
}

void run_faithfulness(FaithfulnessCommandOptions options, const parallel::Ranks& ranks) {
  app::FaithfulnessOptions& run_options = options.run;
  run_options.model = options.prompts.model;
  run_options.matmul = options.prompts.matmul;
  run_options.batch_size = options.prompts.batch_size;
  run_options.prompts = pair_choice(options.prompts);
  run_options.sizes = parse_sizes(options.sizes);
  io::CommandFiles files;
  for (const std::string& graph : run_options.graphs) files.add_input(graph);
  files.add_input(options.prompts.pairs);
  files.add_input(options.prompts.dataset);
  files.add_model_inputs(options.prompts.model);
  add_task_option_inputs(files, options.prompts.task_options);
  files.add_output(options.svg, "--svg");
  files.add_output(options.json, "--json");
  ranks.together([&] {
    check_prompt_options(options.prompts);
    files.check();
  });

  std::optional<app::FaithfulnessRun> shared;
  {
    ProgressBar bar(!options.prompts.quiet && ranks.root());
    shared = app::run_faithfulness_on(ranks, run_options, [&](const std::string& stage, int done, int total) {
      bar.update(stage, done, total);
    });
  }
  if (!shared) return;  // rank 0 reports and writes
  const app::FaithfulnessRun& run = *shared;
  const std::string metric = discover::to_string(run.metric);
  require_finite_metric(run.reference.model, "mean " + metric);
  fmt::print("model: {} ({} layers x {} heads, {} edges)\n", run.model_dir, run.config.n_layer, run.config.n_head,
             discover::EdgeGraph(discover::graph_shape(run.config)).edge_count());
  fmt::print("pairs: {}, corrupted: {}\n", run.prompts, run.corruption);
  fmt::print("metric: {} = {} at the last position ({} is better); model {:.4f}, empty circuit {:.4f}\n", metric,
             discover::describe(run.metric), discover::higher_is_better(run.metric) ? "higher" : "lower",
             run.reference.model, run.reference.empty);
  fmt::print("circuits: the top edges at each size ({}), pruned; the edges outside each carry {}\n",
             run_options.greedy ? "grown greedily from the logits" : "MIB's top-n",
             run.ablation == discover::CircuitAblation::counterfactual ? "the corrupted prompt's activations"
                                                                        : "their mean over the corrupted prompts");
  fmt::print("faithfulness = (m(circuit) - m(empty)) / (m(model) - m(empty)){}\n",
             ranks.size() > 1 ? "; the circuits evaluated" + app::ranks_phrase(ranks) : "");
  for (size_t f = 0; f < run.files.size(); ++f) print_curves(run.files[f], run.curves[f]);
  print_rank_agreement(run);
  if (!options.svg.empty()) {
    io::write_file_atomically(options.svg, plot(run));
    fmt::print("\nwrote the plot to {}\n", options.svg);
  }
  if (!options.json.empty()) {
    io::write_file_atomically(options.json, app::faithfulness_json(run).dump(2) + "\n");
    fmt::print("wrote the curves to {}\n", options.json);
  }
}

}  // namespace

void add_faithfulness_command(CLI::App& app, const parallel::Ranks& ranks) {
  auto options = std::make_shared<FaithfulnessCommandOptions>();
  CLI::App* command = app.add_subcommand(
      "faithfulness", "MIB's faithfulness curves, CPR and CMD of circuits cut from one or more score files");
  command->add_option("graphs", options->run.graphs, "graph files with edge scores (EAP-IG / MIB JSON)")
      ->required()
      ->type_name("GRAPH.json ...");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  options->prompts.batch_size = 32;
  command->add_option("--ablation", options->run.ablation,
                      "what an edge outside a circuit carries: counterfactual (the corrupted prompt's activation) or "
                      "mean (its mean over the corrupted prompts)")
      ->capture_default_str();
  command->add_option("--sizes", options->sizes, "circuit sizes as fractions of the edges (default MIB's grid, "
                                                 "0.001,0.002,0.005,0.01,0.02,0.05,0.1,0.2,0.5,1)")
      ->type_name("F,F,...");
  command->add_option("--metric", options->run.metric, "metric at the last position: logit_diff, prob_diff, kl or loss")
      ->capture_default_str();
  command->add_option("--signed-order", options->run.signed_order,
                      "for CPR, which signed scores come first: auto (from the file's record; else positive, as MIB), "
                      "descending or ascending")
      ->capture_default_str();
  command->add_flag("--greedy", options->run.greedy, "grow circuits greedily from the logits (EAP-IG's apply_greedy)");
  command->add_option("--svg", options->svg, "plot every file's curves")->type_name("OUT.svg");
  command->add_option("--json", options->json, "write the curves, CPR and CMD")->type_name("OUT.json");
  command->callback([options, &ranks] { run_faithfulness(*options, ranks); });
}

}  // namespace cscrub::cli
