// `cscrub compare A.toml B.toml ...`: score circuit variants on the same prompts and seeds, rank them, and
// give each one's paired difference to the first.
#include <fmt/format.h>

#include <algorithm>
#include <memory>
#include <numeric>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "experiment_options.hpp"
#include "cscrub/app/ranks_work.hpp"
#include "cscrub/app/result_text.hpp"
#include "renamed_option.hpp"
#include "svg_bar_chart.hpp"

namespace cscrub::cli {
namespace {

struct CompareOptions {
  std::vector<std::string> hypotheses;
  std::string plot;
  std::string plot_option;  // --svg, or --plot if typed so
  app::ExperimentOptions experiment;
};

void compare(const CompareOptions& options, const parallel::Ranks& ranks) {
  io::CommandFiles files = experiment_files(options.experiment, options.hypotheses);
  files.add_output(options.plot, options.plot_option);
  const app::PreparedExperiment prepared = prepare_on_ranks(ranks, files, options.experiment, options.hypotheses);
  const std::optional<scrub::ExperimentResult> shared = execute_experiment(ranks, prepared, options.experiment.quiet);
  if (!shared) return;  // rank 0 reports and writes
  const scrub::ExperimentResult& result = *shared;
  const std::string metric = scrub::to_string(result.metric);

  std::vector<size_t> ranked(result.hypotheses.size());
  std::iota(ranked.begin(), ranked.end(), 0);
  std::stable_sort(ranked.begin(), ranked.end(), [&](size_t a, size_t b) {
    return result.hypotheses[a].recovered.value > result.hypotheses[b].recovered.value;
  });

  fmt::print("{} prompts of task '{}' (seed {}), {} scrubbing seeds, metric {} ({}), {} sampling\n", result.n,
             prepared.dataset.schema.task, prepared.settings.seed, result.seeds, metric,
             scrub::higher_is_better(result.metric) ? "higher is better" : "lower is better",
             scrub::to_string(result.sampling));
  if (result.excluded > 0) fmt::print("({} prompts left out: alone in their alignment group)\n", result.excluded);
  fmt::print("model {:.4f} [{:.4f}, {:.4f}], baseline ({}) {:.4f} [{:.4f}, {:.4f}]\n\n", result.model.value,
             result.model.low, result.model.high, result.baseline_name, result.baseline.value, result.baseline.low,
             result.baseline.high);
  const std::string first = result.hypotheses.front().name;
  size_t name_width = 30;  // the names' column fits the longest name
  for (const auto& score : result.hypotheses) name_width = std::max(name_width, score.name.size());
  fmt::print("  {:>4}  {:<{}} {:>10}  {:<27} {}\n", "rank", "hypothesis", name_width, "scrubbed", "recovered [95%]",
             "minus " + first + " [95%, paired]");
  for (size_t rank = 0; rank < ranked.size(); ++rank) {
    const scrub::HypothesisScore& score = result.hypotheses[ranked[rank]];
    const std::string difference =
        ranked[rank] == 0 || !result.recoverable.defined ? "-"
                          : fmt::format("{:+.1f} pts [{:+.1f}, {:+.1f}]", 100 * score.difference_to_first.value,
                                        100 * score.difference_to_first.low, 100 * score.difference_to_first.high);
    fmt::print("  {:>4}  {:<{}} {:>10.4f}  {:<27} {}\n", rank + 1, score.name, name_width, score.scrubbed.value,
               app::percent_with_interval(score.recovered), difference);
  }
  const std::string classes = app::class_sizes_summary(result);
  fmt::print("\n{}{}{}\n{}\n{}\n", classes.empty() ? "" : classes + "\n", app::cost_summary(result),
             app::ranks_phrase(ranks),
             app::memory_summary(prepared), app::provenance_summary(prepared));
  if (result.recoverable.defined)
    fmt::print("A paired difference whose interval excludes 0 is a real difference between variants on these prompts.\n");
  else
    fmt::print("% recovered is {}.\n", app::undefined_sentence(result.recoverable));

  if (!options.plot.empty() && !result.recoverable.defined) {
    fmt::print("no chart written to {}: there is no % recovered to draw\n", options.plot);
  } else if (!options.plot.empty()) {
    // The reference (the first hypothesis) on top in both panels, then the others ranked.
    std::vector<size_t> order{0};
    for (size_t index : ranked)
      if (index != 0) order.push_back(index);
    std::vector<Bar> bars;
    DifferencePanel differences{.axis_label = "minus " + first + ", percentage points (paired, 95%)",
                                .rows = {},
                                .first_row_note = "reference"};
    for (size_t index : order) {
      const auto& score = result.hypotheses[index];
      const auto& difference = score.difference_to_first;
      bars.push_back({score.name, score.recovered.value, score.recovered.low, score.recovered.high});
      differences.rows.push_back({score.name, difference.value, difference.low, difference.high});
    }
    io::write_file_atomically(
        options.plot,
        svg_bar_chart(fmt::format("Causal scrubbing: {} recovered ({} prompts of {}, {} seeds)", metric, result.n,
                                  prepared.dataset.schema.task, result.seeds),
                      "% of " + metric + " recovered (95% bootstrap intervals)", bars,
                      result.hypotheses.size() > 1 ? &differences : nullptr));
    fmt::print("wrote {}\n", options.plot);
  }
  if (!options.experiment.json_out.empty()) {
    write_json_file(options.experiment.json_out, app::experiment_json(prepared, result));
    fmt::print("wrote {}\n", options.experiment.json_out);
  }
}

}  // namespace

void add_compare_command(CLI::App& app, const parallel::Ranks& ranks) {
  auto options = std::make_shared<CompareOptions>();
  CLI::App* command =
      app.add_subcommand("compare", "score several hypotheses on the same prompts and seeds, ranked, with paired differences");
  command->add_option("hypotheses", options->hypotheses, "hypothesis files (or builtin:...); the first is the reference")
      ->required()
      ->expected(1, -1);
  add_renamed_option(*command, "--svg", {"--plot"}, options->plot, options->plot_option,
                     "draw each variant's recovered performance and its paired difference to the first as an SVG chart")
      ->type_name("FILE.svg");
  add_experiment_options(*command, options->experiment);
  command->callback([options, &ranks] { compare(*options, ranks); });
}

}  // namespace cscrub::cli
