// `cscrub test FILE.toml [...]`: the hypothesis tests of a circuit claim, each file in turn: equivalence with
// the model, necessity of each node, the claim against random circuits, the per-reference distribution and
// its worst references, and the claim under other ablations (docs/hypothesis-tests.md defines them).
#include <fmt/format.h>

#include <cmath>
#include <memory>
#include <optional>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/circuit_tests.hpp"
#include "cscrub/app/result_text.hpp"
#include "cscrub/error.hpp"
#include "experiment_options.hpp"
#include "progress.hpp"

namespace cscrub::cli {
namespace {

using app::PreparedExperiment;

struct TestOptions {
  std::vector<std::string> hypotheses;
  app::ExperimentOptions experiment;
  app::CircuitTestOptions tests;
};

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
               result.baseline.value, claim.scrubbed.value, app::percent_with_interval(claim.recovered),
               app::recovery_class(claim.recovered.value));
  }
  fmt::print("  (resample: a random prompt of the group; mean: the group's mean; zero: nothing but the biases; "
             "counterfactual: {})\n",
             counterparts);
  if (!app::ablation_verdicts_agree(report)) {
    std::string verdicts;
    for (const scrub::AblationOutcome& outcome : report.ablations)
      if (outcome.result)
        verdicts += fmt::format("{}{}: {}", verdicts.empty() ? "" : "; ", scrub::to_string(outcome.ablation),
                                app::recovery_class(outcome.result->hypotheses.front().recovered.value));
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
             experiment.baseline_name, experiment.baseline.value, claim.scrubbed.value, app::percent_with_interval(claim.recovered));
  const std::string classes = app::class_sizes_summary(experiment);
  if (!classes.empty()) fmt::print("{}\n", classes);
  if (!experiment.recoverable.defined) {
    fmt::print("% recovered is {}: no test of it can be made.\n\n", app::undefined_sentence(experiment.recoverable));
  } else {
    print_equivalence(report);
    print_necessity(report);
    print_random(report);
    print_distribution(prepared, report);
  }
  print_ablations(report, counterparts);
}

void test(const TestOptions& options) {
  experiment_files(options.experiment, options.hypotheses).check();
  std::optional<ProgressBar> bar;  // one per claim, gone before its report is printed
  const nlohmann::json result = app::run_circuit_tests(
      options.experiment, options.hypotheses, options.tests,
      [&](const PreparedExperiment& prepared, const scrub::CircuitTestReport& report, const std::string& counterparts,
          bool last) {
        bar.reset();
        print_report(prepared, report, counterparts);
        if (last) fmt::print("{}\n", app::provenance_summary(prepared));
      },
      [&](const std::string& stage, int done, int total) {
        if (!bar) bar.emplace(!options.experiment.quiet);
        bar->update(stage, done, total);
      });
  if (!options.experiment.json_out.empty()) {
    write_json_file(options.experiment.json_out, result);
    fmt::print("wrote {}\n", options.experiment.json_out);
  }
}

}  // namespace

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
