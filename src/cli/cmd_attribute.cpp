// `cscrub attribute`: direct logit attribution per head (and per MLP, bias and embedding) on a task's
// prompts; prints the strongest heads and writes the [layer, head] grid as .npy and SVG (app/attribution.hpp
// does the work and builds the --json result).
#include <fmt/format.h>

#include <memory>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/attribution.hpp"
#include "discover_cli.hpp"
#include "labelled_arrays.hpp"

namespace cscrub::cli {
namespace {

struct AttributeOptions {
  PromptOptions prompts;
  GridOutputs outputs;
};

app::AttributionOptions app_options(const AttributeOptions& options) {
  const PromptOptions& prompts = options.prompts;
  return {.model = prompts.model,
          .matmul = prompts.matmul,
          .prompts = pair_choice(prompts),
          .batch_size = prompts.batch_size,
          .top = options.outputs.top};
}

void print_attribution(const discover::Attribution& attribution, int top) {
  const auto cells = discover::strongest_cells(attribution.heads, top);
  if (!cells.empty()) {
    fmt::print("\n{:>4}  {:<6} {:>10} {:>9}\n", "rank", "head", "direct", "share");
    int rank = 0;
    for (const discover::Cell& cell : cells)
      fmt::print("{:>4}  {:<6} {:>+10.4f} {:>8.1f}%\n", ++rank, cell_name(attribution.heads, cell.row, cell.column),
                 cell.value, 100.0 * cell.value / attribution.logit_diff);
  }
  fmt::print("\nother parts of the residual stream:\n");
  for (size_t layer = 0; layer < attribution.mlps.size(); ++layer)
    fmt::print("  mlp {:<12} {:>+10.4f}\n", layer, attribution.mlps[layer]);
  for (size_t layer = 0; layer < attribution.attention_biases.size(); ++layer)
    fmt::print("  attn bias {:<6} {:>+10.4f}\n", layer, attribution.attention_biases[layer]);
  fmt::print("  {:<16} {:>+10.4f}\n  {:<16} {:>+10.4f}\n  {:<16} {:>+10.4f}\n", "token embedding",
             attribution.token_embedding, "position embed.", attribution.position_embedding, "ln_f bias",
             attribution.final_bias);
  fmt::print("  {:<16} {:>+10.4f}  (the model's mean logit difference: {:+.4f})\n", "sum of all parts",
             attribution.sum_of_parts(), attribution.logit_diff);
}

void run_attribute(const AttributeOptions& options) {
  const app::AttributionOptions attribution_options = app_options(options);
  app::check_attribution_options(attribution_options);
  check_discover_files(options.prompts, options.outputs.npy, options.outputs.npy_option, options.outputs.svg,
                       options.outputs.json);
  const app::AttributionRun run = [&] {
    ProgressBar bar(!options.prompts.quiet);
    return app::run_attribution(attribution_options, progress_on(bar));
  }();
  const discover::Attribution& attribution = run.attribution;
  const std::string& metric = run.metric;
  fmt::print("model: {} ({} layers x {} heads)\n", run.model_dir, run.config.n_layer, run.config.n_head);
  fmt::print("prompts: {}\n", run.prompts);
  fmt::print("direct logit attribution: each part's output at the last position through ln_f with its scale frozen "
             "at the clean value, dotted with W_U[answer] \u2212 W_U[distractor]; mean over prompts, in units of {}\n",
             metric);
  print_attribution(attribution, options.outputs.top);

  if (!options.outputs.npy.empty()) {
    write_grid_npy(options.outputs.npy, attribution.heads, run.meaning());
    fmt::print("\nwrote the direct logit attribution [layer, head] to {}\n", options.outputs.npy);
  }
  if (!options.outputs.svg.empty()) {
    write_grid_heatmap(options.outputs, attribution.heads,
                       {.title = "Direct logit attribution per head",
                        .subtitle = fmt::format("each head's direct effect on {} at the last position (ln_f scale "
                                                "frozen)\nmean over {}; the model's total is {:.2f} \u00b7 {}",
                                                metric, run.prompts, attribution.logit_diff, model_name(run.model_dir)),
                        .colour_label = "direct effect (logit difference)",
                        .masked_label = ""});
  }
  if (!options.outputs.json.empty()) {
    write_json_result(options.outputs.json, app::attribution_json(run));
    fmt::print("wrote the results to {}\n", options.outputs.json);
  }
}

}  // namespace

void add_attribute_command(CLI::App& app) {
  auto options = std::make_shared<AttributeOptions>();
  CLI::App* command = app.add_subcommand("attribute", "direct logit attribution per head on a task's prompts");
  add_prompt_options(*command, options->prompts);
  add_grid_outputs(*command, options->outputs);
  command->callback([options] { run_attribute(*options); });
}

}  // namespace cscrub::cli
