// `cscrub patch`: activation patching (per head, layer or position), ablations and path patching over a
// task's clean/corrupted prompt pairs; prints the strongest effects and writes the grid as .npy and SVG.
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <memory>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/ablation.hpp"
#include "cscrub/discover/activation_patching.hpp"
#include "cscrub/discover/path_patching.hpp"
#include "cscrub/error.hpp"
#include "discover_cli.hpp"
#include "labelled_arrays.hpp"

namespace cscrub::cli {
namespace {

struct PatchOptions {
  PromptOptions prompts;
  GridOutputs outputs;
  std::string kind = "head";
  std::string site;       // default depends on the kind
  std::string position;   // "" = every position
  std::string receivers;  // path only; default "logits"
  std::string direction;  // default denoise
  std::string ablation;   // zero|mean|resample instead of patching
  std::string value = "normalized";
};

// What was run, in words for the table header and the picture.
struct Described {
  std::string title;
  std::string formula;  // what the normalized value is
  bool denoising = false;
};

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

void check_combination(const PatchOptions& options) {
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

discover::Sweep run_sweep(const PatchOptions& options, const LoadedModel& model, const discover::PairedDataset& pairs,
                          ProgressBar& bar, Described& described) {
  const engine::ModelConfig& config = model.weights.config;
  const int batch_size = options.prompts.batch_size;
  const std::string at = options.position.empty() ? "" : " @" + options.position;
  if (options.kind == "path") {
    const discover::PathPatchingSpec spec{
        .receivers = discover::parse_receivers(options.receivers.empty() ? "logits" : options.receivers, config),
        .position = options.position};
    described.title = "Path patching: sender heads \u2192 " + discover::describe(spec.receivers) +
                      (spec.receivers.empty() ? "" : at);
    described.formula = "(patched \u2212 clean) / (clean \u2212 corrupted)";
    return discover::path_patching(model.weights, pairs, spec, batch_size, progress_on(bar, "path patching"));
  }

  discover::TargetGrid targets;
  std::string what;
  if (options.kind == "head") {
    const engine::Site site = discover::parse_site(options.site.empty() ? "z" : options.site);
    targets = discover::head_targets(config, site, options.position);
    what = "per head: " + std::string(engine::site_info(site).name) + at;
  } else if (options.kind == "layer") {
    targets = discover::layer_targets(config, parse_sites(options.site.empty() ? "resid_pre,attn_out,mlp_out" : options.site),
                                      options.position);
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
    described.title = name + " ablation " + what;
    described.formula = "(ablated \u2212 clean) / (clean \u2212 corrupted)";
    return discover::ablation_sweep(model.weights, pairs, targets, ablation, options.prompts.seed, batch_size,
                                    progress_on(bar, "ablating"));
  }
  const discover::Direction direction =
      discover::parse_direction(options.direction.empty() ? "denoise" : options.direction);
  described.denoising = direction == discover::Direction::denoise;
  described.title = std::string("Activation patching ") + what + (described.denoising ? " (denoising)" : " (noising)");
  described.formula = described.denoising ? "(patched \u2212 corrupted) / (clean \u2212 corrupted)"
                                          : "(patched \u2212 clean) / (clean \u2212 corrupted)";
  return discover::activation_patching(model.weights, pairs, targets, direction, batch_size,
                                       progress_on(bar, "patching"));
}

void print_table(const discover::Sweep& sweep, const discover::Grid& ranked_by, int top) {
  const discover::Grid change = sweep.change(), normalized = sweep.normalized();
  const auto cells = discover::strongest_cells(ranked_by, top);
  if (cells.empty()) return;
  fmt::print("\n{:>4}  {:<22} {:>10} {:>11}\n", "rank", ranked_by.column_axis == "head" ? "head" : "cell", "change",
             "normalized");
  int rank = 0;
  for (const discover::Cell& cell : cells)
    fmt::print("{:>4}  {:<22} {:>+10.4f} {:>+11.4f}\n", ++rank, cell_name(ranked_by, cell.row, cell.column),
               change.at(cell.row, cell.column), normalized.at(cell.row, cell.column));
}

void run_patch(const PatchOptions& options) {
  check_prompt_options(options.prompts);
  check_discover_files(options.prompts, options.outputs.npy, options.outputs.npy_option, options.outputs.svg, options.outputs.json);
  check_combination(options);
  const LoadedModel model = load_model_and_tokenizer(options.prompts.model, options.prompts.matmul);
  const discover::PairedDataset pairs = load_pairs(options.prompts, model);
  const std::string task = pairs.clean.schema.task;
  Described described;
  discover::Sweep sweep;
  {
    ProgressBar bar(!options.prompts.quiet);
    sweep = run_sweep(options, model, pairs, bar, described);
  }
  require_finite_metric(sweep.clean, "mean " + metric_name(task) + " on the clean prompts");
  require_finite_metric(sweep.corrupted, "mean " + metric_name(task) + " on the corrupted prompts");
  const bool normalized = options.value == "normalized";
  const discover::Grid shown = normalized ? sweep.normalized() : sweep.change();
  const std::string metric = metric_name(task);

  fmt::print("model: {} ({} layers x {} heads)\n", model.dir.string(), model.weights.config.n_layer,
             model.weights.config.n_head);
  fmt::print("prompts: {}, corrupted: {}\n", describe_prompts(options.prompts, static_cast<size_t>(sweep.prompts)),
             pairs.corruption);
  fmt::print("mean {}: clean {:.4f}, corrupted {:.4f}\n", metric, sweep.clean, sweep.corrupted);
  fmt::print("{}\n", sweep.description);
  fmt::print("change = patched \u2212 {} (in {}); normalized = {}\n", described.denoising ? "corrupted" : "clean",
             metric, described.formula);
  if (std::fabs(sweep.clean - sweep.corrupted) < 1e-6)
    fmt::print("note: clean and corrupted agree, so the normalized effect is undefined; see the change column\n");
  print_table(sweep, shown, options.outputs.top);

  const std::string no_path = options.kind == "path" ? "no path: the sender is not before any receiver" : "";
  const std::string base = described.denoising ? "corrupted" : "clean";
  const std::string change_meaning = "change: patched \u2212 " + base + ", in " + metric;
  const std::string normalized_meaning = "normalized effect: " + described.formula + ", in " + metric;
  if (!options.outputs.npy.empty()) {
    write_grid_npy(options.outputs.npy, shown, normalized ? normalized_meaning : change_meaning, no_path);
    fmt::print("\nwrote {} [{}, {}] ({}) to {}\n", options.value, shown.row_axis, shown.column_axis,
               normalized ? described.formula : "patched \u2212 base", options.outputs.npy);
  }
  if (!options.outputs.svg.empty()) {
    write_grid_heatmap(
        options.outputs, shown,
        {.title = described.title,
         .subtitle = fmt::format("{} on {}\n{} vs {}: clean {:.2f}, corrupted {:.2f} \u00b7 {}",
                                normalized ? "normalized effect " + described.formula
                                           : "change: patched \u2212 " + std::string(described.denoising ? "corrupted" : "clean"),
                                metric, describe_prompts(options.prompts, static_cast<size_t>(sweep.prompts)),
                                pairs.corruption, sweep.clean, sweep.corrupted, model_name(model.dir)),
         .colour_label = normalized ? "normalized effect" : "change in logit difference",
         .masked_label = no_path});
  }
  if (!options.outputs.json.empty()) {
    nlohmann::ordered_json ranking = nlohmann::ordered_json::array();
    const discover::Grid change = sweep.change(), effect = sweep.normalized();
    for (const discover::Cell& cell : discover::strongest_cells(shown, options.outputs.top))
      ranking.push_back({{"cell", cell_name(shown, cell.row, cell.column)},
                         {"change", change.at(cell.row, cell.column)},
                         {"normalized", effect.at(cell.row, cell.column)}});
    nlohmann::ordered_json result = {
        {"command", "patch"},
        {"title", described.title},
        {"description", sweep.description},
        {"model", model.dir.string()},
        {"prompts", describe_prompts(options.prompts, static_cast<size_t>(sweep.prompts))},
        {"n", sweep.prompts},
        {"corrupted_by", pairs.corruption},
        {"metric", metric},
        {"clean", sweep.clean},
        {"corrupted", sweep.corrupted},
        {"base", base},
        {"change", {{"meaning", change_meaning}, {"grid", grid_json(change)}}},
        {"normalized", {{"meaning", normalized_meaning}, {"grid", grid_json(effect)}}},
        {"ranked_by", options.value},
        {"strongest", ranking}};
    if (!no_path.empty()) result["null_means"] = no_path;
    write_json_result(options.outputs.json, result);
    fmt::print("wrote the results to {}\n", options.outputs.json);
  }
}

}  // namespace

void add_patch_command(CLI::App& app) {
  auto options = std::make_shared<PatchOptions>();
  CLI::App* command = app.add_subcommand(
      "patch", "activation patching, ablations and path patching over clean/corrupted prompt pairs");
  add_prompt_options(*command, options->prompts);
  add_pairs_option(*command, options->prompts);
  command->add_option("--kind", options->kind, "head, layer, position or path")->capture_default_str();
  command->add_option("--site", options->site,
                      "what to patch: head: z (default), q, k, v, pattern, result; layer: comma-separated sites "
                      "(default resid_pre,attn_out,mlp_out); position: resid_pre (default) or another per-layer site");
  command->add_option("--position", options->position,
                      "patch only at this named position (e.g. END, S2); path: where the receivers' inputs are patched");
  command->add_option("--receivers", options->receivers,
                      "path patching receivers: logits (default) or LAYER.HEAD:q|k|v,... (e.g. 2.1:q,2.3:q)");
  command->add_option("--direction", options->direction,
                      "denoise (default: corrupted run, clean activation) or noise (clean run, corrupted activation)");
  command->add_option("--ablation", options->ablation,
                      "ablate instead of patching: zero, mean (over the corrupted prompts of the template) or "
                      "resample (another corrupted prompt of the template, seeded by --seed)");
  command->add_option("--value", options->value, "what the .npy and SVG hold: normalized or change")
      ->capture_default_str();
  add_grid_outputs(*command, options->outputs);
  command->footer(
      "Pairs: --pairs FILE.jsonl gives them; else IOI prompts are paired with their p_ABC versions (same seed; the "
      "name at S2 replaced by a third name), other tasks' prompts with another prompt of the same template. The metric is the mean logit difference "
      "logit(answer) - logit(distractor) at the last position, labels from the clean prompt.");
  command->callback([options] { run_patch(*options); });
}

}  // namespace cscrub::cli
