#include "discover_cli.hpp"

#include <fmt/format.h>

#include <cmath>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/npy.hpp"
#include "cscrub/io/output_file.hpp"
#include "model_option.hpp"
#include "labelled_arrays.hpp"
#include "option_checks.hpp"
#include "renamed_option.hpp"
#include "svg_heatmap.hpp"

namespace cscrub::cli {

void add_prompt_options(CLI::App& command, PromptOptions& options, bool batches) {
  add_model_option(command, options.model);
  add_matmul_option(command, options.matmul);
  command.add_option("--task", options.task, "task whose prompts to use (ioi, induction, pronoun)")->capture_default_str();
  command.add_option("--n", options.n, "number of prompts (with --dataset: its first N; default all)")
      ->capture_default_str()
      ->check(at_least(1))
      ->each([&options](const std::string&) { options.n_given = true; });
  command.add_option("--seed", options.seed, "dataset seed (same seed, same prompts)")->capture_default_str()->check(seed_value());
  command.add_option("--option", options.task_options, "task option, repeatable (see `cscrub dataset --help`)")
      ->type_name("KEY=VALUE");
  command
      .add_option("--dataset", options.dataset,
                  "use these prompts instead of generating --task's: a file `cscrub dataset` wrote, or lines written "
                  "by hand, {\"text\", \"answer\", \"distractor\"} at least (datasets/README.md)")
      ->type_name("FILE.jsonl")
      ->excludes("--task")
      ->excludes("--option");
  if (!batches) return;
  command.add_option("--batch-size", options.batch_size, "prompts per forward pass (does not change results)")
      ->capture_default_str()
      ->check(at_least(1));
  command.add_flag("--quiet", options.quiet, "no progress bar");
}

void add_pairs_option(CLI::App& command, PromptOptions& options) {
  CLI::Option* pairs =
      command.add_option("--pairs", options.pairs,
                         "prompt pairs, one JSON object per line: {\"clean\": ids or text, \"corrupted\": ids or text, "
                         "\"answer\": id or text, \"distractor\": id or text}")
          ->type_name("FILE.jsonl");
  for (const char* generated : {"--task", "--n", "--seed", "--option", "--dataset"}) pairs->excludes(generated);
}

void check_prompt_options(const PromptOptions& options) {
  app::check_prompt_choice(pair_choice(options));
  app::check_batch_size(options.batch_size);
}

app::PromptPairChoice pair_choice(const PromptOptions& options) {
  return {.pairs = options.pairs,
          .dataset = options.dataset,
          .task = options.task,
          .n = options.n,
          .n_given = options.n_given,
          .seed = options.seed,
          .task_options = options.task_options};
}

void add_grid_outputs(CLI::App& command, GridOutputs& outputs) {
  add_renamed_option(command, "--npy", {"--out-npy"}, outputs.npy, outputs.npy_option,
                     "write the grid as a float32 .npy array, and its axes, labels and meaning to FILE.npy.json")
      ->type_name("FILE.npy");
  command.add_option("--svg", outputs.svg, "draw the grid as an SVG heatmap")->type_name("FILE.svg");
  command.add_option("--json", outputs.json, "write the results (grids with their labels, the table) as JSON")
      ->type_name("FILE.json");
  command.add_option("--top", outputs.top, "how many of the strongest cells to print")
      ->capture_default_str()
      ->check(at_least(0));
  command.add_option("--limit", outputs.limit,
                     "colour scale of the SVG from -X to X (same scale across figures); default: the largest |value|, "
                     "rounded up")
      ->type_name("X")
      ->check(finite_positive());
}

void write_grid_npy(const std::string& path, const discover::Grid& grid, const std::string& values,
                    const std::string& not_a_number) {
  const std::vector<float> floats(grid.values.begin(), grid.values.end());
  const std::vector<int64_t> shape{grid.rows(), grid.columns()};
  write_labelled_npy(path, floats, shape, {.axes = grid_axes(grid), .values = values, .not_a_number = not_a_number});
}

void write_text_file(const std::string& path, const std::string& text) { io::write_file_atomically(path, text); }

void write_grid_heatmap(const GridOutputs& outputs, const discover::Grid& grid, HeatmapText text) {
  const Heatmap heatmap{.title = std::move(text.title),
                        .subtitle = std::move(text.subtitle),
                        .row_axis = grid.row_axis,
                        .column_axis = grid.column_axis,
                        .row_labels = grid.row_labels,
                        .column_labels = grid.column_labels,
                        .values = grid.values,
                        .scale = Heatmap::Scale::diverging,
                        .limit = outputs.limit,
                        .colour_label = std::move(text.colour_label),
                        .masked_label = std::move(text.masked_label),
                        .decimals = 2};
  write_text_file(outputs.svg, svg_heatmap(heatmap));
  fmt::print("wrote the heatmap to {}\n", outputs.svg);
}

std::string model_name(const std::filesystem::path& dir) {
  const std::filesystem::path normal = dir.lexically_normal();
  const std::string name = (normal.has_filename() ? normal : normal.parent_path()).filename().string();
  return name.empty() ? dir.string() : name;
}

discover::Progress progress_on(ProgressBar& bar, std::string stage) {
  return [&bar, stage = std::move(stage)](int done, int total) { bar.update(stage, done, total); };
}

app::StagedProgress progress_on(ProgressBar& bar) {
  return [&bar](const std::string& stage, int done, int total) { bar.update(stage, done, total); };
}

}  // namespace cscrub::cli
