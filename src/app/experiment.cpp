#include "cscrub/app/experiment.hpp"

#include <fmt/format.h>
#include <omp.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "cscrub/app/memory_limit.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/app/provenance.hpp"
#include "cscrub/app/task_options.hpp"
#include "cscrub/data/checks.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/graph/builtin.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/sha256.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "cscrub/scrub/memory.hpp"

namespace cscrub::app {
namespace {

bool given_dataset(const ExperimentOptions& options) {
  return !options.dataset_file.empty() || options.dataset != nullptr;
}

std::string dataset_source(const ExperimentOptions& options) {
  return options.dataset != nullptr ? "the given dataset" : options.dataset_file;
}

data::Dataset load_or_make_dataset(const ExperimentOptions& options, const std::string& task, int n,
                                   const std::filesystem::path& model_dir) {
  if (given_dataset(options)) {
    const std::string source = dataset_source(options);
    const io::Tokenizer tokenizer = io::Tokenizer::load(model_dir);
    data::Dataset dataset =
        options.dataset != nullptr ? *options.dataset : data::read_jsonl(options.dataset_file, &tokenizer);
    data::check_tokens(dataset, tokenizer, source);
    // Hand-written prompts of no named task serve any hypothesis whose positions and features they give.
    if (dataset.schema.task != task && dataset.schema.task != data::kCustomTask)
      throw Error(source + ": a '" + dataset.schema.task + "' dataset, but the hypothesis is about task '" +
                  task + "'");
    if (options.n > static_cast<int>(dataset.examples.size()))
      throw Error("--n " + std::to_string(options.n) + " is larger than the dataset " + source + " (" +
                      std::to_string(dataset.examples.size()) + " prompts)",
                  "use --n " + std::to_string(dataset.examples.size()) + " or fewer");
    if (options.n > 0) dataset.examples.resize(static_cast<size_t>(options.n));
    return dataset;
  }
  const io::Tokenizer tokenizer = io::Tokenizer::load(model_dir);
  return data::make_dataset(task, n, options.seed, tokenizer, parse_task_options(options.task_options));
}

std::vector<const graph::Hypothesis*> all_hypotheses(const PreparedExperiment& prepared) {
  std::vector<const graph::Hypothesis*> all{&prepared.baseline};
  for (const auto& hypothesis : prepared.hypotheses) all.push_back(&hypothesis);
  return all;
}

// A hypothesis on hand-written prompts: its positions and features must be among those the lines give.
void require_given_labels(const graph::Hypothesis& hypothesis, const engine::ModelConfig& config,
                          const data::TaskSchema& schema, const std::string& source) {
  const std::vector<graph::Problem> problems = graph::find_problems(hypothesis, graph::ModelGraph(config), schema);
  if (problems.empty()) return;
  const auto list = [](const std::vector<std::string>& names) {
    std::string text;
    for (const auto& name : names) text += (text.empty() ? "" : ", ") + name;
    return text.empty() ? std::string("none") : text;
  };
  throw Error(problems.front().to_string() + " in " + source,
              source + " gives positions " + list(schema.positions) + " and features " + list(schema.features) +
                  "; add the hypothesis' to every line (\"positions\": {label: index}, \"features\": {name: value})");
}

std::string hypothesis_hash(const graph::Hypothesis& hypothesis) {
  if (graph::is_builtin_hypothesis(hypothesis.source_file)) return "builtin";
  return io::sha256_file(hypothesis.source_file);
}

}  // namespace

PreparedExperiment prepare_experiment(const ExperimentOptions& options, const std::vector<std::string>& files) {
  if (options.threads > 0) omp_set_num_threads(options.threads);
  const std::filesystem::path model_dir = options.model;
  const engine::ModelConfig config = io::read_config(model_dir / "config.json");
  const engine::MatmulKernel matmul = matmul_kernel_for(options.matmul);
  PreparedExperiment prepared;
  for (const std::string& file : files) prepared.hypotheses.push_back(graph::load_hypothesis(file, config, options.task));
  const graph::Hypothesis& first = prepared.hypotheses.front();
  const std::string task = options.task.empty() ? first.defaults.task : options.task;
  for (const auto& hypothesis : prepared.hypotheses)
    if (options.task.empty() && hypothesis.defaults.task != task)
      throw Error(hypothesis.source_file + " is about task '" + hypothesis.defaults.task + "', " + first.source_file +
                      " about '" + task + "'",
                  "compare hypotheses of one task, or force one with --task");
  prepared.baseline = graph::load_hypothesis(options.baseline, config, task);

  const int n = options.n > 0 ? options.n : first.defaults.n;
  if (n < 2) throw Error("--n must be at least 2 (got " + std::to_string(n) + ")");
  auto& settings = prepared.settings;
  settings.seeds = options.seeds > 0 ? options.seeds : first.defaults.seeds;
  settings.seed = options.seed;
  settings.batch_size = options.batch_size;
  settings.sampling = scrub::parse_sampling(options.sampling);
  settings.exclude_singletons = options.exclude_singletons;
  const std::string metric = !options.metric.empty()          ? options.metric
                             : !first.defaults.metric.empty() ? first.defaults.metric
                                                              : data::task_schema(task).default_metric;
  settings.metric = scrub::parse_metric(metric);
  settings.max_memory_bytes = memory_limit_bytes(options.max_memory_gib, options.ranks_on_machine);
  prepared.ranks = options.ranks;
  prepared.ranks_on_machine = options.ranks_on_machine;

  const uint64_t model_file_bytes = std::filesystem::exists(model_dir / "model.safetensors")
                                        ? io::InputFile(model_dir / "model.safetensors").size()  // a regular file
                                        : 0;
  // Measured once, before any prompt is generated: the same for the sample's estimate and the dataset's
  // (under AddressSanitizer the resident size grows with every allocation made since).
  const uint64_t program_bytes = resident_bytes();
  auto estimate = [&](const data::Dataset& dataset) {
    scrub::MemoryEstimate memory =
        scrub::estimate_memory(config, matmul, dataset, prepared.hypotheses, prepared.baseline, settings);
    memory.program = program_bytes;
    memory.model_file = model_file_bytes;
    return memory;
  };
  // A huge --n is refused before its prompts are generated (which alone could take hours): a sample of the
  // same task's prompts, scaled to n, gives an estimate. Prompt lengths vary, so it is only approximate:
  // it refuses when it exceeds twice the limit, and the exact estimate below decides the rest.
  constexpr int kEstimateSample = 256;
  if (!given_dataset(options) && n > kEstimateSample) {
    ExperimentOptions sample_options = options;
    sample_options.n = kEstimateSample;
    const scrub::MemoryEstimate sampled =
        scrub::scaled(estimate(load_or_make_dataset(sample_options, task, kEstimateSample, model_dir)), n);
    if (sampled.peak() > 2 * settings.max_memory_bytes) scrub::check_memory(sampled, settings);
  }
  // The dataset is small; the estimate is made and checked before the weights and the cache are allocated.
  prepared.dataset = load_or_make_dataset(options, task, n, model_dir);
  if (prepared.dataset.schema.task == data::kCustomTask)
    for (const graph::Hypothesis* hypothesis : all_hypotheses(prepared))
      require_given_labels(*hypothesis, config, prepared.dataset.schema, dataset_source(options));
  data::check_fits_model(prepared.dataset, config,
                         given_dataset(options) ? dataset_source(options) : "the generated '" + task + "' dataset");
  prepared.memory = estimate(prepared.dataset);
  scrub::check_memory(prepared.memory, settings);
  prepared.weights = io::load_weights(model_dir);
  prepared.weights.matmul = matmul;

  nlohmann::json hypotheses = nlohmann::json::array();
  for (const auto& hypothesis : prepared.hypotheses)
    hypotheses.push_back({{"file", hypothesis.source_file}, {"sha256", hypothesis_hash(hypothesis)}});
  nlohmann::json inputs = input_files(prepared.hypotheses, prepared.baseline, prepared.dataset,
                                      !options.dataset_file.empty(), model_dir);
  std::ostringstream dataset_bytes;
  for (const auto& example : prepared.dataset.examples) {
    dataset_bytes << example.text << '\x1e';
    for (int32_t token : example.tokens) dataset_bytes << token << ',';
    dataset_bytes << example.answer << ',' << example.distractor << '\x1f' << example.group << '\n';
  }
  prepared.provenance = {
      {"cscrub_version", CSCRUB_VERSION},
      {"model_dir", model_dir.string()},
      {"model_sha256", io::sha256_file(model_dir / "model.safetensors")},
      {"matmul", engine::to_string(matmul)},
      {"dataset",
       {{"task", task},
        {"n", prepared.dataset.examples.size()},
        {"seed", given_dataset(options) ? nlohmann::json(prepared.dataset.seed) : nlohmann::json(options.seed)},
        {"file", options.dataset_file},
        {"options", options.task_options},
        {"generator", prepared.dataset.generator},
        {"content_sha256", io::sha256_text(dataset_bytes.str())}}},
      {"hypotheses", hypotheses},
      {"baseline", {{"file", prepared.baseline.source_file}, {"sha256", hypothesis_hash(prepared.baseline)}}},
      {"seeds", settings.seeds},
      {"first_seed", settings.seed},
      {"metric", scrub::to_string(settings.metric)},
      {"sampling", scrub::to_string(settings.sampling)},
      {"exclude_singletons", settings.exclude_singletons},
      {"bootstrap_resamples", settings.bootstrap_resamples},
      {"inputs", std::move(inputs)},
  };
  return prepared;
}

namespace {

nlohmann::json estimate_json(const scrub::Estimate& estimate) {
  if (std::isnan(estimate.value)) return {{"value", nullptr}, {"ci95", nullptr}};
  return {{"value", estimate.value}, {"ci95", {estimate.low, estimate.high}}};
}

nlohmann::json memory_json(const PreparedExperiment& prepared) {
  const scrub::MemoryEstimate& memory = prepared.memory;
  nlohmann::json json = {{"estimated_peak_bytes", memory.peak()},
          {"limit_bytes", prepared.settings.max_memory_bytes},
          {"batch_size", prepared.settings.batch_size},
          {"cached_activations", memory.streams},
          {"parts_bytes",
           {{"program", memory.program},
            {"weights", memory.weights},
            {"model_file_while_loading", memory.model_file},
            {"clean_cache", memory.clean_cache},
            {"clean_forward_batch", memory.clean_forward},
            {"scrub_batch", memory.scrub_batch},
            {"scrubber_model_graph", memory.scrubber},
            {"metric_batch", memory.metric_batch + memory.metric_clean},
            {"results", memory.results},
            {"statistics", memory.statistics}}}};
  // How the run was shared: the estimate and the limit are each rank's (the results do not depend on it).
  if (prepared.ranks > 1)
    json["mpi"] = {{"ranks", prepared.ranks}, {"ranks_on_this_machine", prepared.ranks_on_machine}, {"per_rank", true}};
  return json;
}

nlohmann::json cost_json(const scrub::ExperimentResult& result, const scrub::ScrubCost* own) {
  nlohmann::json cost = {
      {"clean_forward_passes", 1},
      {"forward_pass_equivalents", result.cost.forward_equivalents()},
      {"clean_forward_flops", result.cost.clean_forward_flops},
      {"scrub_flops_all_hypotheses", result.cost.scrub_flops},
      {"head_evaluations", result.cost.head_evaluations},
      {"mlp_evaluations", result.cost.mlp_evaluations},
      {"node_evaluations", result.cost.node_evaluations},
      {"cache_bytes", result.cost.cache_bytes},
  };
  if (own != nullptr) {
    cost["this_hypothesis"] = {{"head_evaluations", own->head_evaluations},
                               {"mlp_evaluations", own->mlp_evaluations},
                               {"node_evaluations", own->node_evaluations},
                               {"flops", own->flops},
                               {"forward_pass_equivalents", own->flops / result.cost.clean_forward_flops}};
  }
  return cost;
}

// JSON null for NaN (an undefined recovery), the number otherwise.
nlohmann::json number_or_null(double value) { return std::isnan(value) ? nlohmann::json() : nlohmann::json(value); }

nlohmann::json interval_or_null(const scrub::Estimate& estimate) {
  if (std::isnan(estimate.low) || std::isnan(estimate.high)) return nlohmann::json();
  return {estimate.low, estimate.high};
}

}  // namespace

nlohmann::json reference_values_json(const scrub::ExperimentResult& result) {
  return {{"reference_indices", result.references},
          {"group_sizes", result.group_sizes},
          {"model", result.model_values},
          {"baseline", result.baseline_per_seed}};
}

nlohmann::json scrubbed_values_json(const scrub::HypothesisScore& score) { return {{"scrubbed", score.scrubbed_per_seed}}; }

nlohmann::json class_sizes_json(const scrub::HypothesisScore& score) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const scrub::NodeClassSizes& node : score.class_sizes) {
    std::map<int, int> distribution;
    for (int size : node.sizes) distribution[size] += 1;
    nlohmann::json counts = nlohmann::json::object();
    for (const auto& [size, count] : distribution) counts[std::to_string(size)] = count;
    nodes.push_back({{"node", node.node},
                     {"feature", node.feature},
                     {"resampled", node.resampled},
                     {"references", node.sizes.size()},
                     {"singletons", node.singletons()},
                     {"singleton_fraction", node.singleton_fraction()},
                     {"class_size_counts", counts},
                     {"class_sizes", node.sizes}});
  }
  return nodes;
}

nlohmann::json recoverable_json(const scrub::Recoverable& recoverable) {
  nlohmann::json json = {{"defined", recoverable.defined},
                         {"model_minus_baseline", estimate_json(recoverable.gap)},
                         {"metric_spread", recoverable.spread}};
  if (!recoverable.defined) json["reason"] = recoverable.reason;
  return json;
}

nlohmann::json hypothesis_json(const PreparedExperiment& prepared, const scrub::ExperimentResult& result, size_t index) {
  const scrub::HypothesisScore& score = result.hypotheses[index];
  nlohmann::json per_reference = reference_values_json(result);
  per_reference.update(scrubbed_values_json(score));
  return {
      {"hypothesis", score.name},
      {"hypothesis_file", score.source},
      {"model", prepared.provenance["model_dir"]},
      {"metric", scrub::to_string(result.metric)},
      {"n", result.n},
      {"excluded_prompts", result.excluded},
      {"seeds", result.seeds},
      {"baseline", result.baseline_name},
      {"model_value", result.model.value},
      {"model_value_ci95", {result.model.low, result.model.high}},
      {"baseline_value", result.baseline.value},
      {"baseline_value_ci95", {result.baseline.low, result.baseline.high}},
      {"scrubbed_value", score.scrubbed.value},
      {"scrubbed_value_ci95", {score.scrubbed.low, score.scrubbed.high}},
      {"recovered", number_or_null(score.recovered.value)},
      {"recovered_ci95", interval_or_null(score.recovered)},
      {"recovered_per_seed", score.recovered_per_seed},
      {"recoverable", recoverable_json(result.recoverable)},
      {"difference_to_first", estimate_json(score.difference_to_first)},
      {"sampling", scrub::to_string(result.sampling)},
      {"excluded_singletons", result.excluded_singletons},
      {"class_sizes", class_sizes_json(score)},
      {"per_reference", per_reference},
      {"cost", cost_json(result, &score.cost)},
      {"memory", memory_json(prepared)},
      {"provenance", prepared.provenance},
  };
}

nlohmann::json experiment_json(const PreparedExperiment& prepared, const scrub::ExperimentResult& result) {
  nlohmann::json variants = nlohmann::json::array();
  for (size_t i = 0; i < result.hypotheses.size(); ++i) {
    nlohmann::json entry = hypothesis_json(prepared, result, i);
    entry.erase("provenance");
    entry.erase("memory");
    entry["per_reference"] = scrubbed_values_json(result.hypotheses[i]);  // the model's and baseline's once, below
    variants.push_back(entry);
  }
  return {{"metric", scrub::to_string(result.metric)},
          {"n", result.n},
          {"excluded_prompts", result.excluded},
          {"excluded_singletons", result.excluded_singletons},
          {"seeds", result.seeds},
          {"sampling", scrub::to_string(result.sampling)},
          {"model_value", estimate_json(result.model)},
          {"baseline", result.baseline_name},
          {"baseline_value", estimate_json(result.baseline)},
          {"recoverable", recoverable_json(result.recoverable)},
          {"per_reference", reference_values_json(result)},
          {"hypotheses", variants},
          {"cost", cost_json(result, nullptr)},
          {"memory", memory_json(prepared)},
          {"provenance", prepared.provenance}};
}

std::string percent_with_interval(const scrub::Estimate& estimate) {
  if (std::isnan(estimate.value)) return "undefined";
  return fmt::format("{:.1f}% [{:.1f}%, {:.1f}%]", 100 * estimate.value, 100 * estimate.low, 100 * estimate.high);
}

std::string value_with_interval(const scrub::Estimate& estimate) {
  return fmt::format("{:.4f} [{:.4f}, {:.4f}]", estimate.value, estimate.low, estimate.high);
}

std::string cost_summary(const scrub::ExperimentResult& result) {
  return fmt::format("cost: {:.2f} forward-pass equivalents (1 clean pass over {} prompts to cache {:.1f} MiB of "
                     "activations, then {} head and {} MLP re-evaluations)",
                     result.cost.forward_equivalents(), result.n,
                     static_cast<double>(result.cost.cache_bytes) / (1024.0 * 1024.0), result.cost.head_evaluations,
                     result.cost.mlp_evaluations);
}

std::string provenance_summary(const PreparedExperiment& prepared) {
  const nlohmann::json& provenance = prepared.provenance;
  const auto short_hash = [](const nlohmann::json& hash) { return hash.get<std::string>().substr(0, 12); };
  std::string text = "provenance: cscrub " + provenance["cscrub_version"].get<std::string>() + ", model sha256 " +
                     short_hash(provenance["model_sha256"]) + " (products " + provenance["matmul"].get<std::string>() +
                     "), dataset seed " + provenance["dataset"]["seed"].dump() + " (prompts sha256 " +
                     short_hash(provenance["dataset"]["content_sha256"]) + ")";
  for (const nlohmann::json& hypothesis : provenance["hypotheses"])
    text += ", " + std::filesystem::path(hypothesis["file"].get<std::string>()).filename().string() + " sha256 " +
            short_hash(hypothesis["sha256"]);
  return text + " (all in the --json output; `cscrub rerun` repeats a run from it)";
}

std::string class_sizes_summary(const scrub::ExperimentResult& result, double warn_above) {
  std::vector<std::array<std::string, 4>> rows;
  std::set<std::string> seen;  // a node shared by variants, once
  int above = 0;
  for (const scrub::HypothesisScore& score : result.hypotheses)
    for (const scrub::NodeClassSizes& node : score.class_sizes) {
      const int singletons = node.singletons();
      if (!node.resampled || singletons == 0) continue;
      const std::string feature = fmt::format("{}", fmt::join(node.feature, "+"));
      if (!seen.insert(node.node + '\x1f' + feature).second) continue;
      std::vector<int> sizes = node.sizes;
      std::sort(sizes.begin(), sizes.end());
      rows.push_back({node.node, feature,
                      fmt::format("{} of {} ({:.1f}%)", singletons, node.sizes.size(), 100 * node.singleton_fraction()),
                      fmt::format("median class {}, largest {}", sizes[sizes.size() / 2], sizes.back())});
      above += node.singleton_fraction() > warn_above ? 1 : 0;
    }
  std::string text;
  if (!rows.empty()) {
    std::array<size_t, 4> widths{};
    for (const auto& row : rows)
      for (size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
    text += "references alone in their agreement class (nothing is resampled for them at that node):\n";
    for (const auto& row : rows)
      text += fmt::format("  {:<{}}  {:<{}}  {:<{}}  {}\n", row[0], widths[0], row[1], widths[1], row[2], widths[2], row[3]);
  }
  if (above > 0)
    text += fmt::format("warning: at {} node{} more than {:.0f}% of the references are alone in their class, and there "
                        "the claim says nothing about them. Use more prompts (--n), coarser features, or "
                        "--exclude-singletons to leave them out\n",
                        above, above == 1 ? "" : "s", 100 * warn_above);
  if (result.excluded_singletons > 0)
    text += fmt::format("left out {} references alone in their class at some node (--exclude-singletons)\n",
                        result.excluded_singletons);
  return text;
}

std::string memory_summary(const PreparedExperiment& prepared) {
  const std::string per_rank =
      prepared.ranks > 1 ? " per rank (" + std::to_string(prepared.ranks_on_machine) + " ranks on this machine)" : "";
  return "memory: estimated " + scrub::describe(prepared.memory) + per_rank + "; limit " +
         scrub::memory_text(prepared.settings.max_memory_bytes) + (prepared.ranks > 1 ? " per rank" : "") +
         " (--max-memory)";
}

}  // namespace cscrub::app
