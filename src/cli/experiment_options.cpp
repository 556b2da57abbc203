#include "experiment_options.hpp"

#include "cscrub/app/ranks_work.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/output_file.hpp"
#include "model_option.hpp"
#include "option_checks.hpp"
#include "progress.hpp"

namespace cscrub::cli {

void add_experiment_options(CLI::App& command, app::ExperimentOptions& options) {
  add_model_option(command, options.model);
  add_matmul_option(command, options.matmul);
  command.add_option("--n", options.n, "number of prompts (default: the hypothesis' [defaults] n)")->check(at_least(2));
  command.add_option("--seeds", options.seeds, "scrubbing seeds (default: the hypothesis' [defaults] seeds)")
      ->check(at_least(1));
  command.add_option("--seed", options.seed, "first seed, for the dataset and the scrubbing")
      ->capture_default_str()
      ->check(seed_value());
  command.add_option("--metric", options.metric, "logit_diff, loss, kl or accuracy (default: the hypothesis')");
  command.add_option("--task", options.task, "task to generate prompts of (default: the hypothesis')");
  command.add_option("--option", options.task_options, "task option, repeatable (see `cscrub dataset --help`)")
      ->type_name("KEY=VALUE");
  command.add_option("--dataset", options.dataset_file, "use a saved dataset (from `cscrub dataset`) instead");
  command.add_option("--baseline", options.baseline, "hypothesis whose value counts as 0% recovered")
      ->capture_default_str();
  command.add_option("--sampling", options.sampling,
                     "cscrub (a draw never returns its own input unless alone in its class) or paper (any member of "
                     "the class, the input included: Chan et al.)")
      ->capture_default_str();
  command.add_flag("--exclude-singletons", options.exclude_singletons,
                   "leave out references alone in their agreement class for some node (nothing is resampled for them "
                   "there); the count left out is reported");
  command.add_option("--batch-size", options.batch_size,
                     "prompts scrubbed together; memory grows with it, results do not change")
      ->capture_default_str()
      ->check(at_least(1));
  command.add_option("--max-memory", options.max_memory_gib,
                     "refuse, before loading the model, runs whose estimated peak memory exceeds this (GiB; default "
                     "half the RAM)")
      ->check(memory_gib());
  command.add_option("--threads", options.threads, "threads (does not change results)")->check(thread_count());
  command.add_flag("--quiet", options.quiet, "no progress bar");
  command.add_option("--json", options.json_out, "write the results as JSON")->type_name("FILE.json");
}

app::ExperimentOptions on_ranks(app::ExperimentOptions options, const parallel::Ranks& ranks) {
  options.ranks = ranks.size();
  options.ranks_on_machine = ranks.ranks_on_this_machine();
  return options;
}

app::PreparedExperiment prepare_on_ranks(const parallel::Ranks& ranks, const io::CommandFiles& files,
                                         const app::ExperimentOptions& options,
                                         const std::vector<std::string>& hypotheses) {
  app::PreparedExperiment prepared = ranks.together([&] {
    files.check();
    return app::prepare_experiment(on_ranks(options, ranks), hypotheses);
  });
  app::check_same_inputs(ranks, prepared.provenance);
  return prepared;
}

std::optional<scrub::ExperimentResult> execute_experiment(const parallel::Ranks& ranks,
                                                          const app::PreparedExperiment& prepared, bool quiet) {
  ProgressBar bar(!quiet && ranks.root());
  return app::run_experiment_on(ranks, prepared,
                                [&](const std::string& stage, int done, int total) { bar.update(stage, done, total); });
}

void write_json_file(const std::string& path, const nlohmann::json& json) {
  // Strings are escaped by the JSON writer; bytes that are not UTF-8 (a file name in Latin-1) become U+FFFD
  // instead of aborting the write after the run.
  io::write_file_atomically(path, json.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + '\n');
}

}  // namespace cscrub::cli
