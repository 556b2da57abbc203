// `cscrub patch`: activation patching (per head, layer or position), ablations and path patching over a
// task's clean/corrupted prompt pairs; prints the strongest effects and writes the grid as .npy and SVG
// (app/patching.hpp does the work and builds the --json result).
#include <fmt/format.h>

#include <cmath>
#include <memory>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/patching.hpp"
#include "discover_cli.hpp"
#include "labelled_arrays.hpp"

namespace cscrub::cli {
namespace {

struct PatchOptions {
  PromptOptions prompts;
  GridOutputs outputs;
  app::PatchingOptions patching;  // the prompts' and outputs' fields are copied in by app_options
};

app::PatchingOptions app_options(const PatchOptions& options) {
  app::PatchingOptions patching = options.patching;
  const PromptOptions& prompts = options.prompts;
  patching.model = prompts.model;
  patching.matmul = prompts.matmul;
  patching.prompts = pair_choice(prompts);
  patching.batch_size = prompts.batch_size;
  patching.top = options.outputs.top;
  return patching;
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
  check_discover_files(options.prompts, options.outputs.npy, options.outputs.npy_option, options.outputs.svg,
                       options.outputs.json);
  const app::PatchingOptions patching = app_options(options);
  app::check_patching_options(patching);
  const app::PatchingRun run = [&] {
    ProgressBar bar(!options.prompts.quiet);
    return app::run_patching(patching, progress_on(bar));
  }();
  const discover::Sweep& sweep = run.sweep;
  const discover::Grid shown = run.shown();
  const std::string& metric = run.metric;

  fmt::print("model: {} ({} layers x {} heads)\n", run.model_dir, run.config.n_layer, run.config.n_head);
  fmt::print("prompts: {}, corrupted: {}\n", run.prompts, run.corruption);
  fmt::print("mean {}: clean {:.4f}, corrupted {:.4f}\n", metric, sweep.clean, sweep.corrupted);
  fmt::print("{}\n", sweep.description);
  fmt::print("change = patched \u2212 {} (in {}); normalized = {}\n", run.base(), metric, run.formula);
  if (std::fabs(sweep.clean - sweep.corrupted) < 1e-6)
    fmt::print("note: clean and corrupted agree, so the normalized effect is undefined; see the change column\n");
  print_table(sweep, shown, options.outputs.top);

  if (!options.outputs.npy.empty()) {
    write_grid_npy(options.outputs.npy, shown, run.normalized ? run.normalized_meaning() : run.change_meaning(),
                   run.null_means());
    fmt::print("\nwrote {} [{}, {}] ({}) to {}\n", patching.value, shown.row_axis, shown.column_axis,
               run.normalized ? run.formula : "patched \u2212 base", options.outputs.npy);
  }
  if (!options.outputs.svg.empty()) {
    write_grid_heatmap(
        options.outputs, shown,
        {.title = run.title,
         .subtitle =
             fmt::format("{} on {}\n{} vs {}: clean {:.2f}, corrupted {:.2f} \u00b7 {}",
                         run.normalized ? "normalized effect " + run.formula : "change: patched \u2212 " + run.base(),
                         metric, run.prompts, run.corruption, sweep.clean, sweep.corrupted, model_name(run.model_dir)),
         .colour_label = run.normalized ? "normalized effect" : "change in logit difference",
         .masked_label = run.null_means()});
  }
  if (!options.outputs.json.empty()) {
    write_json_result(options.outputs.json, app::patching_json(run));
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
  command->add_option("--kind", options->patching.kind, "head, layer, position or path")->capture_default_str();
  command->add_option("--site", options->patching.site,
                      "what to patch: head: z (default), q, k, v, pattern, result; layer: comma-separated sites "
                      "(default resid_pre,attn_out,mlp_out); position: resid_pre (default) or another per-layer site");
  command->add_option(
      "--position", options->patching.position,
      "patch only at this named position (e.g. END, S2); path: where the receivers' inputs are patched");
  command->add_option("--receivers", options->patching.receivers,
                      "path patching receivers: logits (default) or LAYER.HEAD:q|k|v,... (e.g. 2.1:q,2.3:q)");
  command->add_option("--direction", options->patching.direction,
                      "denoise (default: corrupted run, clean activation) or noise (clean run, corrupted activation)");
  command->add_option("--ablation", options->patching.ablation,
                      "ablate instead of patching: zero, mean (over the corrupted prompts of the template) or "
                      "resample (another corrupted prompt of the template, seeded by --seed)");
  command->add_option("--value", options->patching.value, "what the .npy and SVG hold: normalized or change")
      ->capture_default_str();
  add_grid_outputs(*command, options->outputs);
  command->footer(
      "Pairs: --pairs FILE.jsonl gives them; else IOI prompts are paired with their p_ABC versions (same seed; the "
      "name at S2 replaced by a third name), other tasks' prompts with another prompt of the same template. The metric is the mean logit difference "
      "logit(answer) - logit(distractor) at the last position, labels from the clean prompt.");
  command->callback([options] { run_patch(*options); });
}

}  // namespace cscrub::cli
