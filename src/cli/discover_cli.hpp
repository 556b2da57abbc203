// What `cscrub patch`, `attribute` and `attention` share: the options that choose the prompts and the model (also
// `discover`'s and `faithfulness`'s), and the outputs of a [layer, head] sweep (a ranked table, .npy, SVG heatmap).
#pragma once
#include <CLI/CLI.hpp>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cscrub/app/grid_results.hpp"
#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/app/staged_progress.hpp"
#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/weights.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "progress.hpp"

namespace cscrub::cli {

struct PromptOptions {
  std::string model;
  std::string matmul;
  std::string pairs;    // a pair file (--pairs), instead of generated prompts
  std::string dataset;  // a dataset file (--dataset), instead of generated prompts
  std::string task = "ioi";
  int n = 200;
  uint64_t seed = 0;
  std::vector<std::string> task_options;
  int batch_size = 64;
  bool quiet = false;
  bool n_given = false;  // with --dataset: only its first n prompts
};
// --model, --matmul, --task, --n, --seed, --option, --dataset, and for commands that run batches of prompts
// --batch-size, --quiet.
void add_prompt_options(CLI::App& command, PromptOptions& options, bool batches = true);
// --pairs FILE.jsonl, for commands that run prompt pairs: the user's pairs instead of --task, --n, --seed, --option.
void add_pairs_option(CLI::App& command, PromptOptions& options);
// Throws cscrub::Error for an unknown task or a bad --n / --batch-size, before anything is loaded.
void check_prompt_options(const PromptOptions& options);
using app::require_finite_metric;
// The prompts `options` choose, for the app layer: as pairs (app::load_prompt_pairs), the pair file, --dataset's
// prompts each paired with another prompt of its alignment group (seeded by --seed), or the task's generated pairs;
// alone (app::load_prompts), --dataset's or the task's prompts.
app::PromptPairChoice pair_choice(const PromptOptions& options);

struct GridOutputs {
  std::string npy;
  std::string npy_option;  // --npy, or --out-npy if typed so
  std::string svg;
  std::string json;
  int top = 10;
  double limit = 0;  // the colour scale's end; 0: from the data
};
// --npy (alias --out-npy), --svg, --json, --top, --limit.
void add_grid_outputs(CLI::App& command, GridOutputs& outputs);

// The grid as a float32 .npy of shape [rows, columns] (NaN where a cell means nothing, as `not_a_number`
// says), with its sidecar FILE.npy.json naming the axes, their labels and what the values are.
void write_grid_npy(const std::string& path, const discover::Grid& grid, const std::string& values,
                    const std::string& not_a_number = {});
// Throws cscrub::Error naming the file when it cannot be written.
void write_text_file(const std::string& path, const std::string& text);

// What a [layer, head] heatmap says beyond the grid's own values and axes.
struct HeatmapText {
  std::string title, subtitle, colour_label;
  std::string masked_label;  // what a NaN cell means; empty when the grid has none
};
// The grid as a diverging SVG heatmap at outputs.svg (scale limit outputs.limit), and a line saying so.
void write_grid_heatmap(const GridOutputs& outputs, const discover::Grid& grid, HeatmapText text);

// How a cell is called in tables, the metric in words (app/grid_results.hpp).
using app::cell_name;
using app::metric_name;
// The directory's name, for subtitles ("gpt2-ioi-mini").
std::string model_name(const std::filesystem::path& dir);

// A discover::Progress that draws on `bar` under `stage`.
discover::Progress progress_on(ProgressBar& bar, std::string stage);
// An app::StagedProgress that draws every stage on `bar`.
app::StagedProgress progress_on(ProgressBar& bar);

}  // namespace cscrub::cli
