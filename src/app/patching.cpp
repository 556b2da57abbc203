#include "cscrub/app/patching.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include "cscrub/app/grid_results.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/discover/ablation.hpp"
#include "cscrub/discover/activation_patching.hpp"
#include "cscrub/discover/path_patching.hpp"
#include "cscrub/discover/targets.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

namespace cscrub::app {
namespace {

std::vector<engine::Site> parse_sites(const std::string& list) {
  std::vector<engine::Site> sites;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    sites.push_back(discover::parse_site(list.substr(start, end - start)));
    start = end + 1;
  }
  return sites;
}

// Runs the sweep the options choose, filling in the run's words for it.
discover::Sweep run_sweep(const PatchingOptions& options, const engine::Weights& weights,
                          const discover::PairedDataset& pairs, const StagedProgress& progress, PatchingRun& run) {
  const engine::ModelConfig& config = weights.config;
  const int batch_size = options.batch_size;
  const std::string at = options.position.empty() ? "" : " @" + options.position;
  if (options.kind == "path") {
    const discover::PathPatchingSpec spec{
        .receivers = discover::parse_receivers(options.receivers.empty() ? "logits" : options.receivers, config),
        .position = options.position};
    run.title =
        "Path patching: sender heads \u2192 " + discover::describe(spec.receivers) + (spec.receivers.empty() ? "" : at);
    run.formula = "(patched \u2212 clean) / (clean \u2212 corrupted)";
    return discover::path_patching(weights, pairs, spec, batch_size, progress_of_stage(progress, "path patching"));
  }

  discover::TargetGrid targets;
  std::string what;
  if (options.kind == "head") {
    const engine::Site site = discover::parse_site(options.site.empty() ? "z" : options.site);
    targets = discover::head_targets(config, site, options.position);
    what = "per head: " + std::string(engine::site_info(site).name) + at;
  } else if (options.kind == "layer") {
    targets = discover::layer_targets(
        config, parse_sites(options.site.empty() ? "resid_pre,attn_out,mlp_out" : options.site), options.position);
    what = "per layer" + at;
  } else {
    const engine::Site site = discover::parse_site(options.site.empty() ? "resid_pre" : options.site);
    targets = discover::position_targets(config, site, pairs.clean.schema);
    what = "per position: " + std::string(engine::site_info(site).name);
  }
  if (!options.ablation.empty()) {
    const discover::Ablation ablation = discover::parse_ablation(options.ablation);
    std::string name = discover::to_string(ablation);
    name[0] = static_cast<char>(std::toupper(name[0]));
    run.title = name + " ablation " + what;
    run.formula = "(ablated \u2212 clean) / (clean \u2212 corrupted)";
    return discover::ablation_sweep(weights, pairs, targets, ablation, options.prompts.seed, batch_size,
                                    progress_of_stage(progress, "ablating"));
  }
  const discover::Direction direction =
      discover::parse_direction(options.direction.empty() ? "denoise" : options.direction);
  run.denoising = direction == discover::Direction::denoise;
  run.title = std::string("Activation patching ") + what + (run.denoising ? " (denoising)" : " (noising)");
  run.formula = run.denoising ? "(patched \u2212 corrupted) / (clean \u2212 corrupted)"
                              : "(patched \u2212 clean) / (clean \u2212 corrupted)";
  return discover::activation_patching(weights, pairs, targets, direction, batch_size,
                                       progress_of_stage(progress, "patching"));
}

}  // namespace

void check_patching_options(const PatchingOptions& options) {
  // The prompts first, as the CLI checks them.
  check_prompt_choice(options.prompts);
  check_batch_size(options.batch_size);
  check_top(options.top);

  const std::vector<std::string> kinds{"head", "layer", "position", "path"};
  if (std::find(kinds.begin(), kinds.end(), options.kind) == kinds.end())
    throw Error("--kind " + options.kind + ": unknown kind", "head, layer, position or path");
  if (options.value != "normalized" && options.value != "change")
    throw Error("--value " + options.value + ": unknown", "normalized or change");
  const bool path = options.kind == "path";
  if (!options.receivers.empty() && !path) throw Error("--receivers is for --kind path only");
  if (path && !options.site.empty())
    throw Error("--site: path patching always patches the sender heads' hook_z", "leave out --site");
  if (path && !options.ablation.empty()) throw Error("--ablation cannot be combined with --kind path");
  if (path && !options.direction.empty())
    throw Error("--direction: path patching always runs the clean prompt with a sender from the corrupted one",
                "leave out --direction");
  if (!options.ablation.empty() && !options.direction.empty())
    throw Error("--direction and --ablation both given: an ablation always runs the clean prompts");
  if (options.kind == "position" && !options.position.empty())
    throw Error("--position: --kind position already sweeps over every named position");
}

std::string PatchingRun::null_means() const { return path ? "no path: the sender is not before any receiver" : ""; }

std::string PatchingRun::change_meaning() const { return "change: patched \u2212 " + base() + ", in " + metric; }

std::string PatchingRun::normalized_meaning() const { return "normalized effect: " + formula + ", in " + metric; }

PatchingRun run_patching(const PatchingOptions& options, const StagedProgress& progress) {
  check_patching_options(options);
  if (options.model.empty()) throw Error("no model given", "name a model directory");
  engine::Weights weights = io::load_weights(options.model);
  weights.matmul = matmul_kernel_for(options.matmul);
  const std::optional<io::Tokenizer> tokenizer = load_tokenizer_if_present(options.model);
  const discover::PairedDataset pairs =
      load_prompt_pairs(options.prompts, options.model, weights.config, tokenizer ? &*tokenizer : nullptr);
  PatchingRun run;
  run.model_dir = options.model;
  run.config = weights.config;
  run.corruption = pairs.corruption;
  run.metric = metric_name(pairs.clean.schema.task);
  run.normalized = options.value == "normalized";
  run.path = options.kind == "path";
  run.top = options.top;
  run.sweep = run_sweep(options, weights, pairs, progress, run);
  run.prompts = describe_prompt_pairs(options.prompts, static_cast<size_t>(run.sweep.prompts));
  require_finite_metric(run.sweep.clean, "mean " + run.metric + " on the clean prompts");
  require_finite_metric(run.sweep.corrupted, "mean " + run.metric + " on the corrupted prompts");
  return run;
}

nlohmann::ordered_json patching_json(const PatchingRun& run) {
  const discover::Grid shown = run.shown(), change = run.sweep.change(), effect = run.sweep.normalized();
  nlohmann::ordered_json ranking = nlohmann::ordered_json::array();
  for (const discover::Cell& cell : discover::strongest_cells(shown, run.top))
    ranking.push_back({{"cell", cell_name(shown, cell.row, cell.column)},
                       {"change", change.at(cell.row, cell.column)},
                       {"normalized", effect.at(cell.row, cell.column)}});
  nlohmann::ordered_json result = {{"command", "patch"},
                                   {"title", run.title},
                                   {"description", run.sweep.description},
                                   {"model", run.model_dir},
                                   {"prompts", run.prompts},
                                   {"n", run.sweep.prompts},
                                   {"corrupted_by", run.corruption},
                                   {"metric", run.metric},
                                   {"clean", run.sweep.clean},
                                   {"corrupted", run.sweep.corrupted},
                                   {"base", run.base()},
                                   {"change", {{"meaning", run.change_meaning()}, {"grid", grid_json(change)}}},
                                   {"normalized", {{"meaning", run.normalized_meaning()}, {"grid", grid_json(effect)}}},
                                   {"ranked_by", run.normalized ? "normalized" : "change"},
                                   {"strongest", ranking}};
  if (run.path) result["null_means"] = run.null_means();
  return result;
}

}  // namespace cscrub::app
