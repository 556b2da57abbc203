// `cscrub test FILE.toml [...]`: the hypothesis tests of a circuit claim, each file in turn: equivalence with
// the model, necessity of each node, the claim against random circuits, the per-reference distribution and
// its worst references, and the claim under other ablations (docs/hypothesis-tests.md defines them).
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>

#include "circuit_tests_cli.hpp"
#include "circuit_tests_json.hpp"
#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "experiment_cli.hpp"
#include "progress.hpp"
#include "result_text.hpp"
#include "task_option.hpp"

namespace cscrub::cli {
namespace {

struct TestOptions {
  std::vector<std::string> hypotheses;
  ExperimentOptions experiment;
  CircuitTestOptions tests;
};

// The counterpart of each prompt for the counterfactual ablation: IOI's p_ABC twin when the prompts were
// generated, another prompt of its alignment group otherwise (as `cscrub patch` pairs them).
struct Counterparts {
  std::optional<data::Dataset> dataset;
  std::string description;  // or why there are none
};

Counterparts counterparts_for(const PreparedExperiment& prepared, const ExperimentOptions& options) {
  const data::Dataset& dataset = prepared.dataset;
  try {
    if (options.dataset_file.empty() && dataset.schema.task == "ioi") {
      const io::Tokenizer tokenizer = io::Tokenizer::load(options.model);
      discover::PairedDataset pairs =
          discover::make_paired_dataset("ioi", static_cast<int>(dataset.examples.size()), options.seed, tokenizer,
                                        parse_task_options(options.task_options));
      bool same = pairs.clean.examples.size() == dataset.examples.size();
      for (size_t i = 0; same && i < dataset.examples.size(); ++i)
        same = pairs.clean.examples[i].tokens == dataset.examples[i].tokens;
      if (same) return {std::move(pairs.corrupted), "each prompt's p_ABC twin (a third name at S2)"};
    }
    discover::PairedDataset pairs = discover::pair_within_groups(dataset, options.seed);
    return {std::move(pairs.corrupted), "another prompt of the same alignment group, fixed per prompt"};
  } catch (const Error& error) {
    return {std::nullopt, std::string("no counterpart for every prompt: ") + error.what()};
  }
}

std::string percent(double value) { return std::isnan(value) ? "undefined" : fmt::format("{:.1f}%", 100 * value); }

std::string p_text(double p) { return p < 1e-4 ? fmt::format("{:.1e}", p) : fmt::format("{:.4f}", p); }

void print_equivalence(const scrub::CircuitTestReport& report) {
  const scrub::Equivalence& test = *report.equivalence;
  fmt::print("equivalence with the model (two one-sided t tests, margin +-{:.1f} points):\n", 100 * test.margin);
  fmt::print("  {:.0f}% interval of % recovered [{}, {}] {} [{}, {}]: {} (p = {})\n\n", 100 * (1 - 2 * test.alpha),
             percent(test.low), percent(test.high), test.equivalent ? "lies inside" : "is not inside",
             percent(1 - test.margin), percent(1 + test.margin),
             test.equivalent ? "equivalent to the model within the margin" : "not shown equivalent", p_text(test.p_value));
}

void print_necessity(const scrub::CircuitTestReport& report) {
  if (report.necessity.empty()) return;
  fmt::print("necessity of each node (% recovered of the claim minus the claim without it, paired t test, Holm-"
             "corrected over {} nodes):\n",
             report.necessity.size());
  size_t width = 4;
  for (const auto& node : report.necessity) width = std::max(width, node.node.size());
  fmt::print("  {:<{}}  {:>11}  {:>20}  {:>9}  {:>9}  {}\n", "node", width, "without it", "difference [95%]", "p", "p (Holm)",
             "needed");
  for (const scrub::NodeNecessity& node : report.necessity) {
    const scrub::PairedDifference& test = node.test;
    const double half = test.standard_error * 1.96;
    fmt::print("  {:<{}}  {:>11}  {:>20}  {:>9}  {:>9}  {}{}\n", node.node, width,
               percent(report.experiment.hypotheses[node.hypothesis].recovered.value),
               fmt::format("{:+.1f} [{:+.1f}, {:+.1f}]", 100 * test.difference, 100 * (test.difference - half),
                           100 * (test.difference + half)),
               p_text(test.p_value), p_text(node.p_holm), node.needed ? "yes" : "no",
               node.dropped.size() > 1 ? fmt::format(" (drops {} too)", fmt::join(node.dropped.begin() + 1, node.dropped.end(), ", "))
                                       : "");
  }
  fmt::print("\n");
}

void print_random(const scrub::CircuitTestReport& report) {
  const scrub::RandomCircuitTest& random = report.random;
  if (random.recovered.empty()) return;
  const std::string where = report.settings.random_layers == graph::RandomLayers::same
                                ? "heads drawn from the claim's own layers"
                                : "heads and MLPs drawn from any layer";
  const auto as_close = std::count_if(random.recovered.begin(), random.recovered.end(),
                                      [&](double r) { return std::abs(r - 1.0) <= random.claim_distance; });
  fmt::print("against {} random circuits of the claim's shape ({}):\n", random.recovered.size(), where);
  fmt::print("  their % recovered: min {}, median {}, 95th percentile {}, max {}\n",
             percent(scrub::quantile(random.recovered, 0)), percent(scrub::quantile(random.recovered, 0.5)),
             percent(scrub::quantile(random.recovered, 0.95)), percent(scrub::quantile(random.recovered, 1)));
  fmt::print("  {} of {} as close to 100% as the claim ({}): permutation p = {}: {}\n\n", as_close, random.recovered.size(),
             percent(report.experiment.hypotheses.front().recovered.value), p_text(random.p_value),
             random.beaten ? "the claim beats random circuits of its size" : "not better than random circuits of its size");
}

void print_distribution(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report) {
  const scrub::ReferenceDistribution& distribution = report.distribution;
  if (distribution.recovered.empty()) return;
  fmt::print("per-reference recovery (1 - (model - scrubbed) / (mean model - mean baseline); its mean is % recovered):\n ");
  for (size_t i = 0; i < report.settings.quantiles.size(); ++i)
    fmt::print(" {:g}%: {}", 100 * report.settings.quantiles[i], percent(distribution.quantiles[i]));
  fmt::print("\n  worst {:g}% ({} reference{}):\n", 100 * report.settings.worst_fraction, distribution.worst.size(),
             distribution.worst.size() == 1 ? "" : "s");
  const scrub::HypothesisScore& claim = report.experiment.hypotheses.front();
  for (size_t position : distribution.worst) {
    const int index = report.experiment.references[position];
    fmt::print("    prompt {}: {} (model {:.3f}, scrubbed {:.3f}) \"{}\"\n", index, percent(distribution.recovered[position]),
               claim.values.model[position], claim.values.scrubbed[position],
               prepared.dataset.examples[static_cast<size_t>(index)].text);
  }
  fmt::print("\n");
}

void print_ablations(const scrub::CircuitTestReport& report, const std::string& counterparts) {
  fmt::print("ablation sensitivity (what replaces the parts the claim calls unimportant; 0% is nothing-matters under "
             "the same ablation):\n");
  fmt::print("  {:<15} {:>9} {:>9} {:>9}  {:<24} {}\n", "ablation", "model", "baseline", "scrubbed", "recovered [95%]", "verdict");
  for (const scrub::AblationOutcome& outcome : report.ablations) {
    if (!outcome.result) {
      fmt::print("  {:<15} skipped: {}\n", scrub::to_string(outcome.ablation), outcome.skipped);
      continue;
    }
    const scrub::ExperimentResult& result = *outcome.result;
    const scrub::HypothesisScore& claim = result.hypotheses.front();
    fmt::print("  {:<15} {:>9.3f} {:>9.3f} {:>9.3f}  {:<24} {}\n", scrub::to_string(outcome.ablation), result.model.value,
               result.baseline.value, claim.scrubbed.value, percent_with_interval(claim.recovered),
               recovery_class(claim.recovered.value));
  }
  fmt::print("  (resample: a random prompt of the group; mean: the group's mean; zero: nothing but the biases; "
             "counterfactual: {})\n",
             counterparts);
  if (!ablation_verdicts_agree(report)) {
    std::string verdicts;
    for (const scrub::AblationOutcome& outcome : report.ablations)
      if (outcome.result)
        verdicts += fmt::format("{}{}: {}", verdicts.empty() ? "" : "; ", scrub::to_string(outcome.ablation),
                                recovery_class(outcome.result->hypotheses.front().recovered.value));
    fmt::print("  The verdicts disagree ({}): how much the claim explains depends on what stands in for the parts it "
               "calls unimportant, so say which ablation a number comes from.\n",
               verdicts);
  } else {
    fmt::print("  The verdicts agree across ablations.\n");
  }
  fmt::print("\n");
}

void print_report(const PreparedExperiment& prepared, const scrub::CircuitTestReport& report, const std::string& counterparts) {
  const scrub::ExperimentResult& experiment = report.experiment;
  const scrub::HypothesisScore& claim = experiment.hypotheses.front();
  fmt::print("test of '{}' ({})\n", claim.name, claim.source);
  fmt::print("{} prompts of task '{}' (seed {}), {} scrubbing seeds, metric {} ({}), {} sampling, alpha {:g}\n",
             experiment.n, prepared.dataset.schema.task, prepared.settings.seed, experiment.seeds,
             scrub::to_string(experiment.metric), scrub::higher_is_better(experiment.metric) ? "higher is better" : "lower is better",
             scrub::to_string(experiment.sampling), report.settings.alpha);
  fmt::print("model {:.4f}, baseline ({}) {:.4f}, scrubbed {:.4f}: recovered {}\n\n", experiment.model.value,
             experiment.baseline_name, experiment.baseline.value, claim.scrubbed.value, percent_with_interval(claim.recovered));
  const std::string classes = class_sizes_summary(experiment);
  if (!classes.empty()) fmt::print("{}\n", classes);
  if (!experiment.recoverable.defined) {
    fmt::print("% recovered is {}: no test of it can be made.\n\n", undefined_sentence(experiment.recoverable));
  } else {
    print_equivalence(report);
    print_necessity(report);
    print_random(report);
    print_distribution(prepared, report);
  }
  print_ablations(report, counterparts);
}

scrub::CircuitTestSettings settings_from(const CircuitTestOptions& options) {
  if (!(options.alpha > 0 && options.alpha < 0.5)) throw Error("--alpha must be between 0 and 0.5");
  if (!(options.margin_points > 0)) throw Error("--margin must be positive (points of % recovered)");
  if (options.random_circuits < 0) throw Error("--random must be 0 or more");
  scrub::CircuitTestSettings tests;
  tests.alpha = options.alpha;
  tests.margin = options.margin_points / 100;
  tests.random_circuits = options.random_circuits;
  if (options.random_layers != "same" && options.random_layers != "all")
    throw Error("--random-layers must be 'same' or 'all', not '" + options.random_layers + "'");
  tests.random_layers = options.random_layers == "same" ? graph::RandomLayers::same : graph::RandomLayers::all;
  tests.ablations.clear();
  for (const std::string& name : options.ablations) tests.ablations.push_back(scrub::parse_ablation(name));
  return tests;
}

void test(const TestOptions& options) {
  experiment_files(options.experiment, options.hypotheses).check();
  const nlohmann::json result = run_circuit_tests(options.experiment, options.hypotheses, options.tests, true);
  if (!options.experiment.json_out.empty()) {
    write_json_file(options.experiment.json_out, result);
    fmt::print("wrote {}\n", options.experiment.json_out);
  }
}

}  // namespace

nlohmann::json circuit_test_options_json(const CircuitTestOptions& options) {
  return {{"alpha", options.alpha},
          {"margin_points", options.margin_points},
          {"random_circuits", options.random_circuits},
          {"random_layers", options.random_layers},
          {"ablations", options.ablations}};
}

CircuitTestOptions circuit_test_options_from(const nlohmann::json& recorded) {
  CircuitTestOptions options;
  options.alpha = recorded.at("alpha").get<double>();
  options.margin_points = recorded.at("margin_points").get<double>();
  options.random_circuits = recorded.at("random_circuits").get<int>();
  options.random_layers = recorded.at("random_layers").get<std::string>();
  options.ablations = recorded.at("ablations").get<std::vector<std::string>>();
  return options;
}

nlohmann::json run_circuit_tests(const ExperimentOptions& experiment, const std::vector<std::string>& files,
                                 const CircuitTestOptions& options, bool print) {
  const scrub::CircuitTestSettings tests = settings_from(options);
  const PreparedExperiment prepared = prepare_experiment(experiment, files);
  const bool counterfactual_wanted =
      std::find(tests.ablations.begin(), tests.ablations.end(), scrub::Ablation::counterfactual) != tests.ablations.end();
  const Counterparts counterparts = counterfactual_wanted ? counterparts_for(prepared, experiment) : Counterparts{};
  nlohmann::json reports = nlohmann::json::array();
  for (const graph::Hypothesis& claim : prepared.hypotheses) {
    const scrub::CircuitTestReport report = [&] {
      ProgressBar bar(!experiment.quiet);
      return scrub::test_circuit(prepared.weights, prepared.dataset, counterparts.dataset ? &*counterparts.dataset : nullptr,
                                 counterparts.description, claim, prepared.baseline, prepared.settings, tests,
                                 [&](const std::string& stage, int done, int total) { bar.update(stage, done, total); });
    }();
    if (print) print_report(prepared, report, counterparts.description);
    reports.push_back(circuit_test_json(prepared, report));
  }
  if (print) fmt::print("{}\n", provenance_summary(prepared));
  nlohmann::json provenance = prepared.provenance;
  provenance["tests"] = circuit_test_options_json(options);
  provenance["tests"]["counterfactual"] = counterparts.description;
  return {{"tests", reports}, {"provenance", provenance}};
}

void add_test_command(CLI::App& app) {
  auto options = std::make_shared<TestOptions>();
  CLI::App* command = app.add_subcommand(
      "test", "hypothesis tests of a claim: equivalence, necessity of each node, random circuits, worst cases, ablations");
  command->add_option("hypotheses", options->hypotheses, "hypothesis files, each tested in turn")->required()->expected(1, -1);
  add_experiment_options(*command, options->experiment);
  command->add_option("--alpha", options->tests.alpha, "level of every test")->capture_default_str();
  command->add_option("--margin", options->tests.margin_points, "equivalence margin, in points of % recovered")
      ->capture_default_str();
  command->add_option("--random", options->tests.random_circuits, "random circuits to compare with (0: none)")
      ->capture_default_str();
  command->add_option("--random-layers", options->tests.random_layers,
                      "same: each random head from the layer of the head it replaces; all: heads and MLPs from any layer")
      ->capture_default_str();
  command->add_option("--ablations", options->tests.ablations, "resample, mean, zero, counterfactual (default: all)")
      ->delimiter(',');
  command->callback([options] { test(*options); });
}

}  // namespace cscrub::cli
