#include "cscrub/app/edge_discovery.hpp"

#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <filesystem>

#include "cscrub/app/memory_limit.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/app/task_options.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/pair_file.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/scrub/memory.hpp"

namespace cscrub::app {
namespace {

void check_options(const EdgeDiscoveryOptions& options) {
  if (options.model.empty()) throw Error("no model given", "name a model directory");
  if (options.method == "exact" || options.method == "acdc")
    throw Error("--method " + options.method + " is not available yet", "use --method eap or --method eap-ig");
  discover::parse_edge_method(options.method);
  discover::parse_metric(options.metric);
  if (options.steps < 1) throw Error("--steps must be at least 1 (got " + std::to_string(options.steps) + ")");
  if (options.batch_size < 1) throw Error("--batch-size must be at least 1 (got " + std::to_string(options.batch_size) + ")");
  if (options.pairs.empty()) {
    data::task_schema(options.task);  // an unknown task, named
    if (options.n < 1) throw Error("--n must be at least 1 (got " + std::to_string(options.n) + ")");
  }
}

discover::PairedDataset load_pairs(const EdgeDiscoveryOptions& options, const engine::ModelConfig& config) {
  const std::optional<io::Tokenizer> tokenizer = load_tokenizer_if_present(options.model);
  if (!options.pairs.empty()) {
    discover::PairedDataset pairs =
        discover::read_pair_file(options.pairs, config, tokenizer ? &*tokenizer : nullptr);
    discover::check_pairs(pairs);
    return pairs;
  }
  if (!tokenizer)
    throw Error(options.model + " has no tokenizer files, and prompts need one",
                "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe), or give --pairs of "
                "token ids");
  return discover::make_paired_dataset(options.task, options.n, options.seed, *tokenizer,
                                       parse_task_options(options.task_options));
}

}  // namespace

std::string PreparedEdgeDiscovery::memory_parts() const {
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
  prepared.settings = {.method = discover::parse_edge_method(options.method),
                       .steps = options.steps,
                       .metric = discover::parse_metric(options.metric),
                       .batch_size = options.batch_size};
  prepared.pairs = load_pairs(options, prepared.config);
  const size_t count = prepared.pairs.clean.examples.size();
  prepared.prompts = options.pairs.empty() ? fmt::format("{} {} (seed {})", count, options.task, options.seed)
                                           : fmt::format("{} pairs from {}", count, options.pairs);
  size_t longest = 0;
  for (const auto& example : prepared.pairs.clean.examples) longest = std::max(longest, example.tokens.size());
  const int batch = std::min(options.batch_size, static_cast<int>(count));
  prepared.memory = discover::estimate_edge_attribution_memory(prepared.config, prepared.kernel, batch,
                                                               static_cast<int>(longest), prepared.settings.metric);
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

EdgeDiscoveryRun run_edge_discovery(const PreparedEdgeDiscovery& prepared, const discover::Progress& progress) {
  const engine::Weights weights = load_edge_discovery_weights(prepared);
  const auto started = std::chrono::steady_clock::now();
  discover::EdgeAttribution attribution = discover::attribute_edges(weights, prepared.pairs, prepared.settings, progress);
  return finish_edge_discovery(prepared, std::move(attribution),
                               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

EdgeDiscoveryRun finish_edge_discovery(const PreparedEdgeDiscovery& prepared, discover::EdgeAttribution attribution,
                                       double seconds) {
  EdgeDiscoveryRun run{.attribution = std::move(attribution), .seconds = seconds, .input_edge_sum = 0};
  const std::string metric = discover::to_string(prepared.settings.metric);
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

std::string method_label(const discover::EdgeAttributionSettings& settings) {
  return settings.method == discover::EdgeMethod::eap_ig ? fmt::format("EAP-IG (M = {})", settings.steps)
                                                         : std::string("EAP");
}

std::string edge_discovery_graph_json(const EdgeDiscoveryRun& run) {
  return discover::to_graph_json(run.attribution.graph);
}

}  // namespace cscrub::app
