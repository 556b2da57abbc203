// `cscrub discover`: scores every edge of the model's computational graph (EAP-IG's and MIB's) on prompt pairs,
// prints the strongest edges and writes the scores as graph JSON that EAP-IG and MIB load.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

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
  int steps = 5;
  std::string metric = "logit_diff";
  std::string out;
  std::string svg;
  int top = 20;
  double max_memory_gib = 0;
};

// "32,491"
std::string with_commas(int64_t value) {
  std::string digits = std::to_string(value);
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(static_cast<size_t>(i), ",");
  return digits;
}

void print_table(const discover::ScoredGraph& scored, int top) {
  const discover::EdgeGraph& graph = scored.graph;
  std::vector<int> order(static_cast<size_t>(graph.edge_count()));
  std::iota(order.begin(), order.end(), 0);
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

app::EdgeDiscoveryOptions app_options(const DiscoverOptions& options, const parallel::Ranks& ranks) {
  const PromptOptions& prompts = options.prompts;
  return {.model = prompts.model,
          .matmul = prompts.matmul,
          .method = options.method,
          .steps = options.steps,
          .metric = options.metric,
          .pairs = prompts.pairs,
          .task = prompts.task,
          .n = prompts.n,
          .seed = prompts.seed,
          .task_options = prompts.task_options,
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
    add_task_option_inputs(files, options.prompts.task_options);
    files.add_output(options.out, "--out");
    files.add_output(options.svg, "--svg");
    files.check();
    return app::prepare_edge_discovery(app_options(options, ranks));
  });
  const engine::ModelConfig& config = prepared.config;
  const std::string per_rank = ranks.size() > 1 ? " per rank" : "";
  fmt::print("model: {} ({} layers x {} heads, d_model {}), {} products\n", prepared.model_dir, config.n_layer,
             config.n_head, config.d_model, engine::to_string(prepared.kernel));
  fmt::print("prompts: {}, corrupted: {}\n", prepared.prompts, prepared.pairs.corruption);
  fmt::print("memory: estimated peak {}{} ({}); limit {}{}\n", scrub::memory_text(prepared.peak_bytes()), per_rank,
             prepared.memory_parts(), scrub::memory_text(prepared.limit_bytes), per_rank);
  ranks.together([&] { app::check_edge_discovery_memory(prepared); });

  const discover::EdgeAttributionSettings& settings = prepared.settings;
  const std::string method = app::method_label(settings);
  const std::optional<app::EdgeDiscoveryRun> shared = [&] {
    ProgressBar bar(!options.prompts.quiet && ranks.root());
    return app::run_edge_discovery_on(ranks, prepared, progress_on(bar, method));
  }();
  if (!shared) return;  // rank 0 reports and writes
  const app::EdgeDiscoveryRun& run = *shared;
  const discover::EdgeAttribution& attribution = run.attribution;
  const bool integrated = settings.method == discover::EdgeMethod::eap_ig;
  const std::string metric = discover::to_string(settings.metric);
  const discover::EdgeGraph& graph = attribution.graph.graph;
  fmt::print("metric: {} = {}, {} is better; mean over pairs: clean {:.4f}, corrupted {:.4f}\n", metric,
             discover::describe(settings.metric), discover::higher_is_better(settings.metric) ? "higher" : "lower",
             attribution.clean_metric, attribution.corrupted_metric);
  fmt::print("{} over {} edges: {} forward and {} backward passes per pair, {:.1f} s{}\n", method,
             with_commas(graph.edge_count()), attribution.forward_passes, attribution.backward_passes, run.seconds,
             app::ranks_phrase(ranks));
  fmt::print("score = mean over pairs of \u03a3 over positions of (corrupted \u2212 clean activation of the parent) \u00b7 "
             "\u2202{}/\u2202(the child's input){}\n",
             metric, integrated ? ", the gradient averaged over the interpolated inputs" : " on the clean run");
  fmt::print("the input's edges sum to {:+.4f}; the metric moves by {:+.4f} from clean to corrupted\n",
             run.input_edge_sum, attribution.corrupted_metric - attribution.clean_metric);
  print_table(attribution.graph, options.top);
  io::write_file_atomically(options.out, app::edge_discovery_graph_json(run));
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
      "discover", "score every edge of the model's graph (EAP, EAP-IG) on prompt pairs, written as graph JSON");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  options->prompts.batch_size = 32;
  command->add_option("--method", options->method, "eap or eap-ig")->required();
  command->add_option("--steps", options->steps, "EAP-IG's interpolation steps M (MIB uses 5)")
      ->capture_default_str()
      ->check(at_least(1));
  command->add_option("--metric", options->metric,
                      "logit_diff, prob_diff (higher is better), kl (from the clean run), loss (lower is better); "
                      "read at the last position with the clean prompt's answer and distractor")
      ->capture_default_str();
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
      "(eap-ig). Nodes: input (token embeddings), a{L}.h{H} (a head's output), m{L} (an MLP's); a head's inputs "
      "are <q>, <k>, <v>; logits is the final residual stream. See docs/discovery.md.");
  command->callback([options, &ranks] { run_discover(*options, ranks); });
}

}  // namespace cscrub::cli
