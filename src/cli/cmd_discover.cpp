// `cscrub discover`: scores every edge of the model's computational graph (EAP-IG's and MIB's) on prompt pairs by
// EAP, EAP-IG or exact patching, or prunes it by ACDC; prints the strongest edges and writes the scores as graph
// JSON that EAP-IG and MIB load (app/edge_discovery.hpp does the work).
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>

#include "commands.hpp"
#include "cscrub/app/edge_discovery.hpp"
#include "cscrub/app/ranks_work.hpp"
#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/output_file.hpp"
#include "cscrub/scrub/memory.hpp"
#include "command_inputs.hpp"
#include "discover_cli.hpp"
#include "option_checks.hpp"
#include "svg_heatmap.hpp"

namespace cscrub::cli {
namespace {

struct DiscoverOptions {
  PromptOptions prompts;
  std::string method;
  std::optional<int> steps;
  std::optional<double> threshold;
  std::string metric;
  std::string out;
  std::string svg;
  int top = 20;
  double max_memory_gib = 0;
};

// "32,491"
std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), 1, ',');
  return digits;
}

// The `top` edges of largest |score| (of those in the circuit only, when `circuit_only`), with their share of the
// sum of every |score|.
void print_table(const discover::ScoredGraph& scored, int top, bool circuit_only) {
  const discover::EdgeGraph& graph = scored.graph;
  std::vector<int> order;
  for (int e = 0; e < graph.edge_count(); ++e)
    if (!circuit_only || scored.edge_in_graph[static_cast<size_t>(e)]) order.push_back(e);
  const size_t shown = std::min(order.size(), static_cast<size_t>(top));
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(shown), order.end(), [&](int a, int b) {
    const double x = std::fabs(scored.scores[static_cast<size_t>(a)]), y = std::fabs(scored.scores[static_cast<size_t>(b)]);
    return x != y ? x > y : a < b;
  });
  if (shown == 0) return;
  double total = 0;
  for (const double score : scored.scores) total += std::fabs(score);
  fmt::print("\n{:>4}  {:<28} {:>12} {:>9}\n", "rank", "edge", "score", "of |all|");
  for (size_t rank = 0; rank < shown; ++rank) {
    const auto e = static_cast<size_t>(order[rank]);
    fmt::print("{:>4}  {:<28} {:>+12.5f} {:>8.2f}%\n", rank + 1, graph.edge_name(graph.edges()[e]), scored.scores[e],
               total > 0 ? 100 * std::fabs(scored.scores[e]) / total : 0.0);
  }
}

// The scores as a [source, destination] heatmap: every edge a cell, grey where a destination cannot read the source.
std::string score_heatmap(const discover::EdgeAttribution& attribution, const std::string& title,
                          const std::string& subtitle, const std::string& metric) {
  const discover::ScoredGraph& scored = attribution.graph;
  const discover::EdgeGraph& graph = scored.graph;
  Heatmap heatmap;
  heatmap.title = title;
  heatmap.subtitle = subtitle;
  heatmap.row_axis = "source (parent)";
  heatmap.column_axis = "destination (child's input)";
  heatmap.colour_label = "score (" + metric + ")";
  heatmap.masked_label = "no edge: the destination reads before the source writes";
  for (int s = 0; s < graph.source_count(); ++s) heatmap.row_labels.push_back(graph.source_name(s));
  for (int d = 0; d < graph.destination_count(); ++d) heatmap.column_labels.push_back(graph.destination_name(d));
  heatmap.values.assign(static_cast<size_t>(graph.source_count()) * graph.destination_count(), std::nan(""));
  double largest = 0;
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    const discover::Edge edge = graph.edges()[e];
    heatmap.values[static_cast<size_t>(edge.source) * graph.destination_count() + edge.destination] = scored.scores[e];
    largest = std::max(largest, std::fabs(scored.scores[e]));
  }
  heatmap.annotate_from = 0.1 * largest;  // only the strong edges written out
  return svg_heatmap(heatmap);
}

// `on_ranks`: " on K MPI ranks" (app::ranks_phrase) or "".
void print_gradient_summary(const app::PreparedEdgeDiscovery& prepared, const app::EdgeDiscoveryRun& run,
                            const std::string& method, const std::string& metric, const std::string& on_ranks) {
  const discover::EdgeAttribution& attribution = run.attribution;
  fmt::print("{} over {} edges: {} forward and {} backward passes per pair, {:.1f} s{}\n", method,
             with_commas(attribution.graph.graph.edge_count()), attribution.forward_passes, attribution.backward_passes,
             run.seconds, on_ranks);
  fmt::print("score = mean over pairs of \u03a3 over positions of (corrupted \u2212 clean activation of the parent) \u00b7 "
             "\u2202{}/\u2202(the child's input){}\n",
             metric,
             prepared.method == app::DiscoveryMethod::eap_ig ? ", the gradient averaged over the interpolated inputs"
                                                             : " on the clean run");
  fmt::print("the input's edges sum to {:+.4f}; the metric moves by {:+.4f} from clean to corrupted\n",
             run.input_edge_sum, attribution.corrupted_metric - attribution.clean_metric);
}

void print_exact_summary(const app::EdgeDiscoveryRun& run, const std::string& metric, const std::string& on_ranks) {
  fmt::print("exact patching over {} edges: one patched run per edge and pair, downstream of the child only, {:.1f} s{}\n",
             with_commas(run.attribution.graph.graph.edge_count()), run.seconds, on_ranks);
  fmt::print("work: {:.3g} GFLOP, {:.1f}x less than a full forward pass per edge ({:.3g} GFLOP)\n",
             run.exact_cost.exact_flops / 1e9, run.exact_cost.naive_flops / run.exact_cost.exact_flops,
             run.exact_cost.naive_flops / 1e9);
  fmt::print("score = mean over pairs of {0}(clean run in which only this edge carries the parent's corrupted "
             "output) \u2212 {0}(clean run)\n",
             metric);
}

void print_acdc_summary(const app::PreparedEdgeDiscovery& prepared, const app::EdgeDiscoveryRun& run,
                        const std::string& metric) {
  const discover::AcdcResult& acdc = *run.acdc;
  const discover::ScoredGraph& circuit = run.attribution.graph;
  fmt::print("ACDC over {} edges, from the logits backwards: {} removals tried, {} edges kept, {:.1f} s\n",
             with_commas(circuit.graph.edge_count()), with_commas(acdc.tried), with_commas(acdc.kept), run.seconds);
  fmt::print("an edge is removed (carries the corrupted output, like every edge removed before it) when {} moves by "
             "at most tau = {}; score = that change\n",
             metric, prepared.threshold);
  fmt::print("circuit: {} edges and {} nodes connected to the input and the logits; mean {}: model {:.4f}, kept edges "
             "{:.4f}, circuit {:.4f}\n",
             with_commas(circuit.edges_in_graph()), circuit.nodes_in_graph(), metric, acdc.model_metric,
             acdc.final_metric, acdc.pruned_metric);
}

app::EdgeDiscoveryOptions app_options(const DiscoverOptions& options, const parallel::Ranks& ranks) {
  const PromptOptions& prompts = options.prompts;
  return {.model = prompts.model,
          .matmul = prompts.matmul,
          .method = options.method,
          .steps = options.steps,
          .threshold = options.threshold,
          .metric = options.metric,
          .prompts = pair_choice(prompts),
          .batch_size = prompts.batch_size,
          .max_memory_gib = options.max_memory_gib,
          .ranks_on_machine = ranks.ranks_on_this_machine()};
}

void run_discover(const DiscoverOptions& options, const parallel::Ranks& ranks) {
  // The pairs and the memory estimate first, the weights only once the run fits; every rank reads its own.
  const app::PreparedEdgeDiscovery prepared = ranks.together([&] {
    check_prompt_options(options.prompts);
    io::CommandFiles files;
    files.add_model_inputs(options.prompts.model);
    files.add_input(options.prompts.pairs);
    files.add_input(options.prompts.dataset);
    add_task_option_inputs(files, options.prompts.task_options);
    files.add_output(options.out, "--out");
    files.add_output(options.svg, "--svg");
    files.check();
    return app::prepare_edge_discovery(app_options(options, ranks));
  });
  app::check_same_inputs(ranks, app::pairs_fingerprint(prepared.pairs, prepared.model_dir));
  const engine::ModelConfig& config = prepared.config;
  const std::string per_rank = ranks.size() > 1 ? " per rank" : "";
  fmt::print("model: {} ({} layers x {} heads, d_model {}), {} products\n", prepared.model_dir, config.n_layer,
             config.n_head, config.d_model, engine::to_string(prepared.kernel));
  fmt::print("prompts: {}, corrupted: {}\n", prepared.prompts, prepared.pairs.corruption);
  fmt::print("memory: estimated peak {}{} ({}); limit {}{}\n", scrub::memory_text(prepared.peak_bytes()), per_rank,
             prepared.memory_parts(), scrub::memory_text(prepared.limit_bytes), per_rank);
  ranks.together([&] { app::check_edge_discovery_memory(prepared); });

  const discover::EdgeAttributionSettings& settings = prepared.settings;
  const std::string method = app::method_label(prepared);
  const std::optional<app::EdgeDiscoveryRun> shared = [&] {
    ProgressBar bar(!options.prompts.quiet && ranks.root());
    return app::run_edge_discovery_on(ranks, prepared, progress_on(bar, method));
  }();
  if (!shared) return;  // rank 0 reports and writes
  const app::EdgeDiscoveryRun& run = *shared;
  const discover::EdgeAttribution& attribution = run.attribution;
  const std::string metric = discover::to_string(settings.metric);
  const discover::EdgeGraph& graph = attribution.graph.graph;
  fmt::print("metric: {} = {}, {} is better; mean over pairs: clean {:.4f}, corrupted {:.4f}\n", metric,
             discover::describe(settings.metric), discover::higher_is_better(settings.metric) ? "higher" : "lower",
             attribution.clean_metric, attribution.corrupted_metric);
  switch (prepared.method) {
    case app::DiscoveryMethod::eap:
    case app::DiscoveryMethod::eap_ig: print_gradient_summary(prepared, run, method, metric, app::ranks_phrase(ranks)); break;
    case app::DiscoveryMethod::exact: print_exact_summary(run, metric, app::ranks_phrase(ranks)); break;
    case app::DiscoveryMethod::acdc: print_acdc_summary(prepared, run, metric); break;
  }
  print_table(attribution.graph, options.top, prepared.method == app::DiscoveryMethod::acdc);
  io::write_file_atomically(options.out, app::edge_discovery_graph_json(run));
  if (prepared.method == app::DiscoveryMethod::acdc)
    fmt::print("\nwrote {} edges (each with its change when tried; the {} of the circuit in_graph) as EAP-IG/MIB graph "
               "JSON to {}\n",
               with_commas(graph.edge_count()), with_commas(attribution.graph.edges_in_graph()), options.out);
  else
    fmt::print("\nwrote {} edge scores (EAP-IG/MIB graph JSON) to {}\n", with_commas(graph.edge_count()), options.out);
  if (!options.svg.empty()) {
    io::write_file_atomically(
        options.svg,
        score_heatmap(attribution, method + " scores of every edge",
                      fmt::format("{} over {} vs {} \u00b7 {}\nmean {}: clean {:.2f}, corrupted {:.2f}", metric,
                                  prepared.prompts, prepared.pairs.corruption, model_name(prepared.model_dir), metric,
                                  attribution.clean_metric, attribution.corrupted_metric),
                      metric));
    fmt::print("wrote the scores as a [source, destination] heatmap to {}\n", options.svg);
  }
}

}  // namespace

void add_discover_command(CLI::App& app, const parallel::Ranks& ranks) {
  auto options = std::make_shared<DiscoverOptions>();
  CLI::App* command = app.add_subcommand(
      "discover",
      "score every edge of the model's graph (EAP, EAP-IG, exact patching) or prune it (ACDC) on prompt pairs, "
      "written as graph JSON");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  options->prompts.batch_size = 32;
  command->add_option("--method", options->method, "eap, eap-ig, exact or acdc")->required();
  command->add_option("--steps", options->steps, "EAP-IG's interpolation steps M (default 5, as MIB)")
      ->check(at_least(1));
  command->add_option("--threshold", options->threshold,
                      "ACDC's tau: an edge is removed when the metric moves by at most this (>= 0, or inf)")
      ->type_name("TAU");
  command->add_option("--metric", options->metric,
                      "logit_diff, prob_diff (higher is better), kl (from the clean run), loss (lower is better); "
                      "read at the last position with the clean prompt's answer and distractor (default kl for "
                      "acdc, as ACDC's paper; logit_diff otherwise)");
  command->add_option("--out", options->out, "the scored graph, as EAP-IG's and MIB's graph JSON")
      ->type_name("GRAPH.json")
      ->required();
  command->add_option("--svg", options->svg, "draw every edge's score as a [source, destination] heatmap")
      ->type_name("FILE.svg");
  command->add_option("--top", options->top, "how many of the strongest edges to print")
      ->capture_default_str()
      ->check(at_least(0));
  command->add_option("--max-memory", options->max_memory_gib,
                      "refuse, before loading the model, runs whose estimated peak memory exceeds this (GiB; default "
                      "half the physical memory)")
      ->check(memory_gib());
  command->footer(
      "Scores (EAP-IG's attribute.py): the mean over pairs of the sum over positions of (corrupted - clean "
      "activation of the parent) . d metric / d (the child's input at its port): the gradient on the clean run "
      "(eap), or averaged over M runs whose token embeddings are corrupted + k/M (clean - corrupted), k = 0..M-1 "
      "(eap-ig); metric(clean run in which only that edge carries the parent's corrupted output) - metric(clean "
      "run) (exact). acdc visits the destinations from the logits backwards and removes each edge whose removal, "
      "with every edge removed so far, moves the metric by at most tau; its scores are those changes, its in_graph "
      "marks the circuit kept. Nodes: input (token embeddings), a{L}.h{H} (a head's output), m{L} (an MLP's); a head's inputs "
      "are <q>, <k>, <v>; logits is the final residual stream. See docs/discovery.md.");
  command->callback([options, &ranks] { run_discover(*options, ranks); });
}

}  // namespace cscrub::cli
