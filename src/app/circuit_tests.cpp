// run_circuit_tests: the options of `cscrub test`, the counterfactual pairing, and each claim's tests.
#include "cscrub/app/circuit_tests.hpp"

#include <algorithm>
#include <optional>

#include "cscrub/app/task_options.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::app {
namespace {

// The counterpart of each prompt for the counterfactual ablation: IOI's p_ABC twin when the prompts were
// generated, another prompt of its alignment group otherwise (as `cscrub patch` pairs them).
struct Counterparts {
  std::optional<data::Dataset> dataset;
  std::string description;  // or why there are none
};

Counterparts counterparts_for(const PreparedExperiment& prepared, const ExperimentOptions& options) {
  const data::Dataset& dataset = prepared.dataset;
  try {
    const bool generated = options.dataset_file.empty() && options.dataset == nullptr;
    if (generated && dataset.schema.task == "ioi") {
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

}  // namespace

scrub::CircuitTestSettings circuit_test_settings(const CircuitTestOptions& options) {
  if (!(options.alpha > 0 && options.alpha < 0.5)) throw Error("--alpha must be between 0 and 0.5");
  if (!(options.margin_points > 0)) throw Error("--margin must be positive (points of % recovered)");
  if (options.random_circuits < 0) throw Error("--random must be 0 or more");
  if (options.random_layers != "same" && options.random_layers != "all")
    throw Error("--random-layers must be 'same' or 'all', not '" + options.random_layers + "'");
  scrub::CircuitTestSettings tests;
  tests.alpha = options.alpha;
  tests.margin = options.margin_points / 100;
  tests.random_circuits = options.random_circuits;
  tests.random_layers = options.random_layers == "same" ? graph::RandomLayers::same : graph::RandomLayers::all;
  tests.ablations.clear();
  for (const std::string& name : options.ablations) tests.ablations.push_back(scrub::parse_ablation(name));
  return tests;
}

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
                                 const CircuitTestOptions& options, const CircuitTestReporter& reporter,
                                 const scrub::ExperimentProgress& progress) {
  const scrub::CircuitTestSettings tests = circuit_test_settings(options);
  const PreparedExperiment prepared = prepare_experiment(experiment, files);
  const bool counterfactual_wanted =
      std::find(tests.ablations.begin(), tests.ablations.end(), scrub::Ablation::counterfactual) != tests.ablations.end();
  const Counterparts counterparts = counterfactual_wanted ? counterparts_for(prepared, experiment) : Counterparts{};
  nlohmann::json reports = nlohmann::json::array();
  for (size_t c = 0; c < prepared.hypotheses.size(); ++c) {
    const scrub::CircuitTestReport report =
        scrub::test_circuit(prepared.weights, prepared.dataset, counterparts.dataset ? &*counterparts.dataset : nullptr,
                            counterparts.description, prepared.hypotheses[c], prepared.baseline, prepared.settings,
                            tests, progress);
    if (reporter) reporter(prepared, report, counterparts.description, c + 1 == prepared.hypotheses.size());
    reports.push_back(circuit_test_json(prepared, report));
  }
  nlohmann::json provenance = prepared.provenance;
  provenance["tests"] = circuit_test_options_json(options);
  provenance["tests"]["counterfactual"] = counterparts.description;
  return {{"tests", reports}, {"provenance", provenance}};
}

}  // namespace cscrub::app
