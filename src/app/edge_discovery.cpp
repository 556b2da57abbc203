#include "cscrub/app/edge_discovery.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <string_view>
#include <tuple>

#include "cscrub/app/memory_limit.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/scrub/memory.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::app {
namespace {

// ACDC's paper measures KL to the clean run; the gradient methods and exact patching, as MIB, the logit difference.
std::string metric_of(const EdgeDiscoveryOptions& options, DiscoveryMethod method) {
  if (!options.metric.empty()) return options.metric;
  return method == DiscoveryMethod::acdc ? "kl" : "logit_diff";
}

void check_options(const EdgeDiscoveryOptions& options) {
  if (options.model.empty()) throw Error("no model given", "name a model directory");
  const DiscoveryMethod method = parse_discovery_method(options.method);
  discover::parse_metric(metric_of(options, method));
  if (options.steps && method != DiscoveryMethod::eap_ig)
    throw Error("--steps is EAP-IG's number of interpolation steps; --method " + options.method + " has none",
                "leave out --steps, or use --method eap-ig");
  if (options.steps && *options.steps < 1)
    throw Error("--steps must be at least 1 (got " + std::to_string(*options.steps) + ")");
  if (method == DiscoveryMethod::acdc && !options.threshold)
    throw Error("--method acdc needs --threshold T: the largest change of the metric for which an edge is removed",
                "e.g. --threshold 0.01 with --metric kl; 0 keeps every edge that changes anything, inf none");
  if (method != DiscoveryMethod::acdc && options.threshold)
    throw Error("--threshold is ACDC's tau; --method " + options.method + " scores every edge and has none",
                "use --method acdc, or cut a circuit from the scores with `cscrub circuit GRAPH.json --threshold T`");
  if (options.threshold && !(*options.threshold >= 0))  // also refuses NaN
    throw Error(fmt::format("--threshold must be a number >= 0 or inf (got {})", *options.threshold));
  if (options.batch_size < 1) throw Error("--batch-size must be at least 1 (got " + std::to_string(options.batch_size) + ")");
  check_prompt_choice(options.prompts);
}

discover::PairedDataset load_pairs(const EdgeDiscoveryOptions& options, const engine::ModelConfig& config) {
  const std::optional<io::Tokenizer> tokenizer = load_tokenizer_if_present(options.model);
  return load_prompt_pairs(options.prompts, options.model, config, tokenizer ? &*tokenizer : nullptr);
}

// A word of a command line, quoted for a POSIX shell when it needs it.
std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_./=:,+@%").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The options as the `cscrub discover` command that computes the same scores (batch size and products left
// out: they do not change them), so that the CLI and Python record the same line.
std::string command_line(const EdgeDiscoveryOptions& options, DiscoveryMethod method, const std::string& metric) {
  std::string line = "cscrub discover --model " + shell_word(options.model) + " --method " + to_string(method);
  if (method == DiscoveryMethod::eap_ig) line += " --steps " + std::to_string(options.steps.value_or(5));
  if (options.threshold) line += fmt::format(" --threshold {}", *options.threshold);
  line += " --metric " + metric;
  const PromptPairChoice& prompts = options.prompts;
  if (!prompts.pairs.empty()) return line + " --pairs " + shell_word(prompts.pairs);
  if (!prompts.dataset.empty()) {  // its pairs depend on the seed; --n only when it took the file's first prompts
    line += " --dataset " + shell_word(prompts.dataset);
    if (prompts.n_given) line += fmt::format(" --n {}", prompts.n);
    return line + fmt::format(" --seed {}", prompts.seed);
  }
  line += fmt::format(" --task {} --n {} --seed {}", shell_word(prompts.task), prompts.n, prompts.seed);
  for (const std::string& option : prompts.task_options) line += " --option " + shell_word(option);
  return line;
}

// The metric's means on the clean and the corrupted prompts, for the methods that do not measure both: the
// full circuit is the clean run, and the empty one under counterfactual ablation the corrupted run, bit for bit.
std::pair<double, double> clean_and_corrupted_metric(const engine::Weights& weights, const discover::EdgeGraph& graph,
                                                     const PreparedEdgeDiscovery& prepared) {
  discover::CircuitEvaluator evaluator(weights, graph, prepared.pairs, discover::CircuitAblation::counterfactual,
                                       prepared.settings.metric, prepared.settings.batch_size, /*resident=*/false);
  const std::vector<uint8_t> empty(static_cast<size_t>(graph.edge_count()), 0);
  return {evaluator.clean_mean(), evaluator.mean(empty)};
}

}  // namespace

std::string to_string(DiscoveryMethod method) {
  switch (method) {
    case DiscoveryMethod::eap: return "eap";
    case DiscoveryMethod::eap_ig: return "eap-ig";
    case DiscoveryMethod::exact: return "exact";
    case DiscoveryMethod::acdc: return "acdc";
  }
  return "?";
}

DiscoveryMethod parse_discovery_method(const std::string& name) {
  for (const DiscoveryMethod method :
       {DiscoveryMethod::eap, DiscoveryMethod::eap_ig, DiscoveryMethod::exact, DiscoveryMethod::acdc})
    if (name == to_string(method)) return method;
  throw Error("unknown discovery method '" + name + "'" + did_you_mean(name, {"eap", "eap-ig", "exact", "acdc"}),
              "eap, eap-ig, exact or acdc");
}

uint64_t PreparedEdgeDiscovery::method_bytes() const {
  return method == DiscoveryMethod::exact || method == DiscoveryMethod::acdc ? patching_bytes : memory.total();
}

std::string PreparedEdgeDiscovery::memory_parts() const {
  if (method == DiscoveryMethod::exact || method == DiscoveryMethod::acdc)
    return fmt::format("{} {}, weights {}, program {}",
                       method == DiscoveryMethod::exact ? "recorded runs and patched runs"
                                                        : "every batch's recorded runs and one circuit evaluation",
                       scrub::memory_text(patching_bytes), scrub::memory_text(weight_bytes),
                       scrub::memory_text(program_bytes));
  return fmt::format("activation differences {}, tape {}, backward {}, forward {}, scores {}, weights {}, program {}",
                     scrub::memory_text(memory.activation_differences), scrub::memory_text(memory.tape),
                     scrub::memory_text(memory.backward), scrub::memory_text(memory.forward),
                     scrub::memory_text(memory.scores), scrub::memory_text(weight_bytes),
                     scrub::memory_text(program_bytes));
}

PreparedEdgeDiscovery prepare_edge_discovery(const EdgeDiscoveryOptions& options) {
  check_options(options);
  PreparedEdgeDiscovery prepared;
  prepared.model_dir = options.model;
  prepared.config = io::read_config(std::filesystem::path(options.model) / "config.json");
  prepared.kernel = matmul_kernel_for(options.matmul);
  prepared.method = parse_discovery_method(options.method);
  const std::string metric = metric_of(options, prepared.method);
  prepared.settings = {.method = prepared.method == DiscoveryMethod::eap ? discover::EdgeMethod::eap
                                                                         : discover::EdgeMethod::eap_ig,
                       .steps = options.steps.value_or(5),
                       .metric = discover::parse_metric(metric),
                       .batch_size = options.batch_size};
  prepared.threshold = options.threshold.value_or(0);
  prepared.command = command_line(options, prepared.method, metric);
  prepared.pairs = load_pairs(options, prepared.config);
  const size_t count = prepared.pairs.clean.examples.size();
  prepared.prompts = describe_prompt_pairs(options.prompts, count);
  size_t longest = 0;
  for (const auto& example : prepared.pairs.clean.examples) longest = std::max(longest, example.tokens.size());
  const int batch = std::min(options.batch_size, static_cast<int>(count));
  const discover::Metric chosen = prepared.settings.metric;
  const uint64_t reference_bytes = discover::circuit_evaluation_bytes(
      prepared.config, prepared.pairs, discover::CircuitAblation::counterfactual, chosen, batch, /*resident=*/false);
  switch (prepared.method) {
    case DiscoveryMethod::eap:
    case DiscoveryMethod::eap_ig:
      prepared.memory = discover::estimate_edge_attribution_memory(prepared.config, prepared.kernel, batch,
                                                                   static_cast<int>(longest), chosen);
      break;
    case DiscoveryMethod::exact:  // then the clean and corrupted means, measured after the scores
      prepared.patching_bytes = std::max(
          discover::exact_patching_bytes(prepared.config, prepared.pairs, {.metric = chosen, .batch_size = batch}),
          reference_bytes);
      break;
    case DiscoveryMethod::acdc:
      prepared.patching_bytes = std::max(
          discover::acdc_bytes(prepared.config, prepared.pairs,
                               {.metric = chosen, .threshold = prepared.threshold, .batch_size = batch}),
          reference_bytes);
      break;
  }
  prepared.weight_bytes = engine::weight_bytes(prepared.config);
  prepared.program_bytes = resident_bytes();
  prepared.limit_bytes = memory_limit_bytes(options.max_memory_gib, options.ranks_on_machine);
  return prepared;
}

void check_edge_discovery_memory(const PreparedEdgeDiscovery& prepared) {
  if (prepared.peak_bytes() <= prepared.limit_bytes) return;
  throw Error("the estimated peak memory " + scrub::memory_text(prepared.peak_bytes()) + " exceeds the limit of " +
                  scrub::memory_text(prepared.limit_bytes) + " (" + prepared.memory_parts() + ")",
              "use a smaller batch size (" + std::to_string(prepared.settings.batch_size) +
                  " now; memory grows with it, scores do not change), or raise the memory limit");
}

engine::Weights load_edge_discovery_weights(const PreparedEdgeDiscovery& prepared) {
  engine::Weights weights = io::load_weights(prepared.model_dir);
  weights.matmul = prepared.kernel;
  return weights;
}

EdgeDiscoveryRun score_by_patching(const engine::Weights& weights, const PreparedEdgeDiscovery& prepared,
                                   const discover::Progress& progress, const std::vector<int>& destinations) {
  const discover::EdgeGraph graph(discover::graph_shape(weights.config));
  const discover::Metric metric = prepared.settings.metric;
  const int batch_size = prepared.settings.batch_size;
  EdgeDiscoveryRun run{.attribution = {.graph = discover::ScoredGraph(graph),
                                       .pairs = static_cast<int>(prepared.pairs.clean.examples.size())}};
  if (prepared.method == DiscoveryMethod::exact) {
    const discover::ExactPatchingOptions options{.metric = metric, .batch_size = batch_size, .destinations = destinations};
    run.attribution.graph.scores = discover::exact_edge_scores(weights, graph, prepared.pairs, options, progress);
    run.exact_cost = discover::exact_patching_cost(weights.config, graph, prepared.pairs,
                                                   {.metric = metric, .batch_size = batch_size});
  } else {
    run.acdc = discover::acdc(weights, graph, prepared.pairs,
                              {.metric = metric, .threshold = prepared.threshold, .batch_size = batch_size}, progress);
    run.attribution.graph = run.acdc->graph;
  }
  return run;
}

void measure_means(const engine::Weights& weights, const PreparedEdgeDiscovery& prepared, EdgeDiscoveryRun& run) {
  std::tie(run.attribution.clean_metric, run.attribution.corrupted_metric) =
      clean_and_corrupted_metric(weights, discover::EdgeGraph(discover::graph_shape(weights.config)), prepared);
}

EdgeDiscoveryRun run_edge_discovery(const PreparedEdgeDiscovery& prepared, const discover::Progress& progress) {
  const engine::Weights weights = load_edge_discovery_weights(prepared);
  const auto started = std::chrono::steady_clock::now();
  const bool gradients = prepared.method == DiscoveryMethod::eap || prepared.method == DiscoveryMethod::eap_ig;
  EdgeDiscoveryRun run =
      gradients ? EdgeDiscoveryRun{.attribution = discover::attribute_edges(weights, prepared.pairs, prepared.settings, progress)}
                : score_by_patching(weights, prepared, progress);
  if (!gradients) measure_means(weights, prepared, run);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return finish_edge_discovery(prepared, std::move(run));
}

EdgeDiscoveryRun finish_edge_discovery(const PreparedEdgeDiscovery& prepared, EdgeDiscoveryRun run) {
  const std::string metric = discover::to_string(prepared.settings.metric);
  run.provenance = {.method = to_string(prepared.method),
                    .metric = metric,
                    .higher_is_better = discover::higher_is_better(prepared.settings.metric),
                    .task = prepared.pairs.clean.schema.task,
                    .corruption = prepared.pairs.corruption,
                    .pairs = static_cast<int>(prepared.pairs.clean.examples.size()),
                    .command = prepared.command};
  for (const auto& [value, what] : {std::pair{run.attribution.clean_metric, "clean"},
                                    std::pair{run.attribution.corrupted_metric, "corrupted"}}) {
    if (std::isfinite(value)) continue;
    throw Error(fmt::format("the model produced a non-finite mean {} on the {} prompts ({}): the forward pass "
                            "overflowed float32",
                            metric, what, std::isnan(value) ? "NaN" : value > 0 ? "+Inf" : "-Inf"),
                "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
  }
  const discover::EdgeGraph& graph = run.attribution.graph.graph;
  for (size_t e = 0; e < graph.edges().size(); ++e)
    if (graph.edges()[e].source == 0) run.input_edge_sum += run.attribution.graph.scores[e];
  return run;
}

std::string method_label(const PreparedEdgeDiscovery& prepared) {
  switch (prepared.method) {
    case DiscoveryMethod::eap: return "EAP";
    case DiscoveryMethod::eap_ig: return fmt::format("EAP-IG (M = {})", prepared.settings.steps);
    case DiscoveryMethod::exact: return "exact patching";
    case DiscoveryMethod::acdc: return fmt::format("ACDC (tau = {})", prepared.threshold);
  }
  return "?";
}

std::string edge_discovery_graph_json(const EdgeDiscoveryRun& run) {
  return discover::to_graph_json(run.attribution.graph, run.provenance);
}

}  // namespace cscrub::app
