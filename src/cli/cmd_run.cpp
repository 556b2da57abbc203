// `cscrub run FILE.toml`: score one hypothesis by causal scrubbing and say what the number means.
#include <fmt/format.h>

#include <memory>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "experiment_options.hpp"
#include "cscrub/app/ranks_work.hpp"
#include "cscrub/app/result_text.hpp"

namespace cscrub::cli {
namespace {

struct RunOptions {
  std::string hypothesis;
  app::ExperimentOptions experiment;
};

void run(const RunOptions& options, const parallel::Ranks& ranks) {
  const app::PreparedExperiment prepared = prepare_on_ranks(
      ranks, experiment_files(options.experiment, {options.hypothesis}), options.experiment, {options.hypothesis});
  const std::optional<scrub::ExperimentResult> shared = execute_experiment(ranks, prepared, options.experiment.quiet);
  if (!shared) return;  // rank 0 reports and writes
  const scrub::ExperimentResult& result = *shared;
  const scrub::HypothesisScore& score = result.hypotheses.front();
  const std::string metric = scrub::to_string(result.metric);

  fmt::print("hypothesis  {} ({})\n", score.name, score.source);
  fmt::print("model       {}\n", prepared.provenance["model_dir"].get<std::string>());
  fmt::print("data        {} prompts of task '{}' (seed {}), {} scrubbing seeds, metric {} ({}), {} sampling\n",
             result.n, prepared.dataset.schema.task, prepared.settings.seed, result.seeds, metric,
             scrub::higher_is_better(result.metric) ? "higher is better" : "lower is better",
             scrub::to_string(result.sampling));
  if (result.excluded > 0)
    fmt::print("            ({} more prompts left out: alone in their alignment group, nothing can be resampled for them)\n",
               result.excluded);
  fmt::print("\n");
  fmt::print("  {:<22} {:>10}   {}\n", "", "mean", "95% interval");
  auto row = [](const std::string& label, const scrub::Estimate& e) {
    fmt::print("  {:<22} {:>10.4f}   [{:.4f}, {:.4f}]\n", label, e.value, e.low, e.high);
  };
  row("model", result.model);
  row("baseline (" + result.baseline_name + ")", result.baseline);
  row("scrubbed", score.scrubbed);
  if (result.recoverable.defined) {
    fmt::print("  {:<22} {:>9.1f}%   [{:.1f}%, {:.1f}%]\n", "recovered", 100 * score.recovered.value,
               100 * score.recovered.low, 100 * score.recovered.high);
    std::string per_seed;
    for (double value : score.recovered_per_seed) per_seed += fmt::format(" {:.1f}%", 100 * value);
    fmt::print("  {:<22} {}\n\n", "recovered per seed", per_seed);
  } else {
    fmt::print("  {:<22} {}\n\n", "recovered", app::undefined_sentence(result.recoverable));
  }
  const std::string classes = app::class_sizes_summary(result);
  if (!classes.empty()) fmt::print("{}\n", classes);
  fmt::print("{}{}\n{}\n{}\n\n", app::cost_summary(result), app::ranks_phrase(ranks), app::memory_summary(prepared),
             app::provenance_summary(prepared));
  fmt::print("{}", app::meaning_paragraph(result, score));
  if (!options.experiment.json_out.empty()) {
    write_json_file(options.experiment.json_out, app::hypothesis_json(prepared, result, 0));
    fmt::print("\nwrote {}\n", options.experiment.json_out);
  }
}

}  // namespace

void add_run_command(CLI::App& app, const parallel::Ranks& ranks) {
  auto options = std::make_shared<RunOptions>();
  CLI::App* command = app.add_subcommand("run", "score a hypothesis by causal scrubbing (% of the metric recovered)");
  command->add_option("hypothesis", options->hypothesis, "hypothesis file, or builtin:full / builtin:none")->required();
  add_experiment_options(*command, options->experiment);
  command->callback([options, &ranks] { run(*options, ranks); });
}

}  // namespace cscrub::cli
