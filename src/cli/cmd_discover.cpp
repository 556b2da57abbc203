// `cscrub discover`: scores every edge of the model's computational graph (EAP-IG's and MIB's) on prompt pairs,
// prints the strongest edges and writes the scores as graph JSON that EAP-IG and MIB load.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>

#include "commands.hpp"
#include "cscrub/discover/edge_attribution.hpp"
#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/output_file.hpp"
#include "cscrub/scrub/memory.hpp"
#include "command_inputs.hpp"
#include "discover_cli.hpp"
#include "memory_limit.hpp"
#include "model_option.hpp"
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

// The memory a run needs at its peak, checked against the limit before the weights are loaded.
void check_memory(const engine::ModelConfig& config, engine::MatmulKernel kernel,
                  const discover::PairedDataset& pairs, const DiscoverOptions& options) {
  size_t longest = 0;
  for (const auto& example : pairs.clean.examples) longest = std::max(longest, example.tokens.size());
  const int batch = std::min(options.prompts.batch_size, static_cast<int>(pairs.clean.examples.size()));
  const discover::EdgeAttributionMemory memory = discover::estimate_edge_attribution_memory(
      config, kernel, batch, static_cast<int>(longest), discover::parse_metric(options.metric));
  const uint64_t weights = engine::weight_bytes(config), program = resident_bytes();
  const uint64_t peak = program + weights + memory.total();
  const uint64_t limit = memory_limit_bytes(options.max_memory_gib);
  const std::string parts = fmt::format(
      "activation differences {}, tape {}, backward {}, forward {}, scores {}, weights {}, program {}",
      scrub::memory_text(memory.activation_differences), scrub::memory_text(memory.tape),
      scrub::memory_text(memory.backward), scrub::memory_text(memory.forward), scrub::memory_text(memory.scores),
      scrub::memory_text(weights), scrub::memory_text(program));
  fmt::print("memory: estimated peak {} ({}); limit {}\n", scrub::memory_text(peak), parts, scrub::memory_text(limit));
  if (peak > limit)
    throw Error("the estimated peak memory " + scrub::memory_text(peak) + " exceeds the limit of " +
                    scrub::memory_text(limit) + " (" + parts + ")",
                "use a smaller --batch-size (" + std::to_string(options.prompts.batch_size) +
                    " now; memory grows with it, scores do not change), or raise --max-memory");
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

void run_discover(const DiscoverOptions& options) {
  check_prompt_options(options.prompts);
  if (options.method == "exact" || options.method == "acdc")
    throw Error("--method " + options.method + " is not available yet", "use --method eap or --method eap-ig");
  const discover::EdgeAttributionSettings settings{.method = discover::parse_edge_method(options.method),
                                                   .steps = options.steps,
                                                   .metric = discover::parse_metric(options.metric),
                                                   .batch_size = options.prompts.batch_size};
  if (settings.steps < 1) throw Error("--steps must be at least 1 (got " + std::to_string(settings.steps) + ")");
  if (options.out.empty()) throw Error("--out is required: where to write the scored graph (GRAPH.json)");
  io::CommandFiles files;
  files.add_model_inputs(options.prompts.model);
  files.add_input(options.prompts.pairs);
  add_task_option_inputs(files, options.prompts.task_options);
  files.add_output(options.out, "--out");
  files.add_output(options.svg, "--svg");
  files.check();

  // The pairs and the memory estimate first, the weights only once the run fits.
  const std::filesystem::path model_dir = options.prompts.model;
  const engine::ModelConfig config = io::read_config(model_dir / "config.json");
  const engine::MatmulKernel kernel = matmul_kernel_for(options.prompts.matmul);
  LoadedModel model{.dir = model_dir, .weights = {}, .tokenizer_if_present = load_tokenizer_if_present(model_dir)};
  model.weights.config = config;
  const discover::PairedDataset pairs = load_pairs(options.prompts, model);
  const bool integrated = settings.method == discover::EdgeMethod::eap_ig;
  fmt::print("model: {} ({} layers x {} heads, d_model {}), {} products\n", model_dir.string(), config.n_layer,
             config.n_head, config.d_model, engine::to_string(kernel));
  fmt::print("prompts: {}, corrupted: {}\n", describe_prompts(options.prompts, pairs.clean.examples.size()),
             pairs.corruption);
  check_memory(config, kernel, pairs, options);
  model.weights = io::load_weights(model_dir);
  model.weights.matmul = kernel;

  const auto started = std::chrono::steady_clock::now();
  const discover::EdgeAttribution attribution = [&] {
    ProgressBar bar(!options.prompts.quiet);
    return discover::attribute_edges(model.weights, pairs, settings, progress_on(bar, integrated ? "EAP-IG" : "EAP"));
  }();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string metric = discover::to_string(settings.metric);
  require_finite_metric(attribution.clean_metric, "mean " + metric + " on the clean prompts");
  require_finite_metric(attribution.corrupted_metric, "mean " + metric + " on the corrupted prompts");
  const discover::EdgeGraph& graph = attribution.graph.graph;
  fmt::print("metric: {} = {}, {} is better; mean over pairs: clean {:.4f}, corrupted {:.4f}\n", metric,
             discover::describe(settings.metric), discover::higher_is_better(settings.metric) ? "higher" : "lower",
             attribution.clean_metric, attribution.corrupted_metric);
  fmt::print("{} over {} edges: {} forward and {} backward passes per pair, {:.1f} s\n",
             integrated ? fmt::format("EAP-IG (M = {})", settings.steps) : std::string("EAP"),
             with_commas(graph.edge_count()), attribution.forward_passes, attribution.backward_passes, seconds);
  fmt::print("score = mean over pairs of \u03a3 over positions of (corrupted \u2212 clean activation of the parent) \u00b7 "
             "\u2202{}/\u2202(the child's input){}\n",
             metric, integrated ? ", the gradient averaged over the interpolated inputs" : " on the clean run");
  // Every path from the input starts with an input edge, so those edges together estimate the whole change
  // from the clean to the corrupted prompts: to first order for EAP; for EAP-IG, integrated gradients'
  // completeness makes them equal it as M grows (a left Riemann sum of M steps).
  double from_input = 0;
  for (size_t e = 0; e < graph.edges().size(); ++e)
    if (graph.edges()[e].source == 0) from_input += attribution.graph.scores[e];
  fmt::print("the input's edges sum to {:+.4f}; the metric moves by {:+.4f} from clean to corrupted\n", from_input,
             attribution.corrupted_metric - attribution.clean_metric);
  print_table(attribution.graph, options.top);
  io::write_file_atomically(options.out, discover::to_graph_json(attribution.graph));
  fmt::print("\nwrote {} edge scores (EAP-IG/MIB graph JSON) to {}\n", with_commas(graph.edge_count()), options.out);
  if (!options.svg.empty()) {
    const std::string method = integrated ? fmt::format("EAP-IG (M = {})", settings.steps) : "EAP";
    io::write_file_atomically(
        options.svg,
        score_heatmap(attribution, method + " scores of every edge",
                      fmt::format("{} over {} vs {} \u00b7 {}\nmean {}: clean {:.2f}, corrupted {:.2f}", metric,
                                  describe_prompts(options.prompts, pairs.clean.examples.size()), pairs.corruption,
                                  model_name(model_dir), metric, attribution.clean_metric, attribution.corrupted_metric),
                      metric));
    fmt::print("wrote the scores as a [source, destination] heatmap to {}\n", options.svg);
  }
}

}  // namespace

void add_discover_command(CLI::App& app) {
  auto options = std::make_shared<DiscoverOptions>();
  CLI::App* command = app.add_subcommand(
      "discover", "score every edge of the model's graph (EAP, EAP-IG) on prompt pairs, written as graph JSON");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  options->prompts.batch_size = 32;
  command->add_option("--method", options->method, "eap or eap-ig")->required();
  command->add_option("--steps", options->steps, "EAP-IG's interpolation steps M (MIB uses 5)")->capture_default_str();
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
      ->check(CLI::NonNegativeNumber);
  command->add_option("--max-memory", options->max_memory_gib,
                      "refuse, before loading the model, runs whose estimated peak memory exceeds this (GiB; default "
                      "half the physical memory)")
      ->check(CLI::NonNegativeNumber);
  command->footer(
      "Scores (EAP-IG's attribute.py): the mean over pairs of the sum over positions of (corrupted - clean "
      "activation of the parent) . d metric / d (the child's input at its port): the gradient on the clean run "
      "(eap), or averaged over M runs whose token embeddings are corrupted + k/M (clean - corrupted), k = 0..M-1 "
      "(eap-ig). Nodes: input (token embeddings), a{L}.h{H} (a head's output), m{L} (an MLP's); a head's inputs "
      "are <q>, <k>, <v>; logits is the final residual stream. See docs/discovery.md.");
  command->callback([options] { run_discover(*options); });
}

}  // namespace cscrub::cli
