// `cscrub attention`: one head's attention pattern on one prompt (given as text, or a task's prompt by
// index); prints the most attended key of every query and draws the query x key pattern as an SVG
// (app/attention_pattern.hpp reads the prompt, computes the pattern and builds the --json result).
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <memory>
#include <optional>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/app/attention_pattern.hpp"
#include "discover_cli.hpp"
#include "labelled_arrays.hpp"
#include "renamed_option.hpp"
#include "svg_heatmap.hpp"

namespace cscrub::cli {
namespace {

struct AttentionOptions {
  PromptOptions prompts;
  std::string head;
  std::string text;
  int index = -1;
  std::string svg;
  std::string npy;
  std::string npy_option;  // --npy, or --out-npy if typed so
  std::string json;
};

// --text and --index as given (app::run_attention_pattern requires exactly one), whatever their values.
app::AttentionPatternOptions app_options(const AttentionOptions& options, bool text_given, bool index_given) {
  return {.model = options.prompts.model,
          .matmul = options.prompts.matmul,
          .head = options.head,
          .text = text_given ? std::optional<std::string>(options.text) : std::nullopt,
          .index = index_given ? std::optional<int>(options.index) : std::nullopt,
          .prompts = pair_choice(options.prompts)};
}

// A token's text for tables: quoted, control characters escaped.
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    if (c == '"' || c == '\\') out += std::string("\\") + static_cast<char>(c);
    else if (c == '\n') out += "\\n";
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += static_cast<char>(c);
  }
  return out + "\"";
}

void run_attention(const AttentionOptions& options, bool text_given, bool index_given) {
  check_discover_files(options.prompts, options.npy, options.npy_option, options.svg, options.json);
  const app::AttentionPatternRun run = app::run_attention_pattern(app_options(options, text_given, index_given));
  const app::AttentionPrompt& prompt = run.prompt;
  const engine::RowMatrix& pattern = run.pattern;
  const int positions = static_cast<int>(prompt.tokens.size());

  fmt::print("model: {} ({} layers x {} heads)\n", run.model_dir, run.config.n_layer, run.config.n_head);
  fmt::print("prompt: {} ({} tokens)\n", quoted(prompt.text), positions);
  fmt::print("head {}: the most attended key of each query\n\n", run.head_name());
  size_t width = 0;
  for (const auto& label : prompt.labels) width = std::max(width, quoted(label).size());
  for (int query = 0; query < positions; ++query) {
    Eigen::Index key = 0;
    const float weight = pattern.row(query).maxCoeff(&key);
    fmt::print("{:>4} {:<{}}  \u2192 {:>3} {:<{}}  {:.3f}\n", query, quoted(prompt.labels[static_cast<size_t>(query)]),
               width, key, quoted(prompt.labels[static_cast<size_t>(key)]), width, weight);
  }

  if (!options.npy.empty()) {
    const std::vector<float> values(pattern.data(), pattern.data() + pattern.size());
    const std::vector<int64_t> shape{positions, positions};
    write_labelled_npy(
        options.npy, values, shape,
        {.axes = {{"query", prompt.labels}, {"key", prompt.labels}}, .values = run.meaning(), .not_a_number = {}});
    fmt::print("\nwrote the pattern [query, key] to {}\n", options.npy);
  }
  if (!options.json.empty()) {
    write_json_result(options.json, app::attention_pattern_json(run));
    fmt::print("wrote the results to {}\n", options.json);
  }
  if (!options.svg.empty()) {
    Heatmap heatmap{.title = "Attention pattern of head " + run.head_name(),
                    .subtitle = quoted(prompt.text) + " \u00b7 " + model_name(run.model_dir),
                    .row_axis = "query",
                    .column_axis = "key",
                    .row_labels = prompt.labels,
                    .column_labels = prompt.labels,
                    .values = {},
                    .scale = Heatmap::Scale::sequential,
                    .limit = 1.0,
                    .colour_label = "attention probability",
                    .masked_label = "causal mask (a query cannot see later keys)",
                    .decimals = 2,
                    .annotate_from = 0.1};
    for (int query = 0; query < positions; ++query)
      for (int key = 0; key < positions; ++key)
        heatmap.values.push_back(key > query ? std::numeric_limits<double>::quiet_NaN() : pattern(query, key));
    write_text_file(options.svg, svg_heatmap(heatmap));
    fmt::print("wrote the heatmap to {}\n", options.svg);
  }
}

}  // namespace

void add_attention_command(CLI::App& app) {
  auto options = std::make_shared<AttentionOptions>();
  CLI::App* command = app.add_subcommand("attention", "draw one head's attention pattern on a prompt");
  command->add_option("--head", options->head, "the head, LAYER.HEAD (e.g. 2.1)")->required();
  CLI::Option* text = command->add_option("--text", options->text, "the prompt as text");
  CLI::Option* index = command->add_option("--index", options->index, "prompt number I (0-based) of --dataset, or of --task's generated prompts");
  add_prompt_options(*command, options->prompts, /*batches=*/false);
  command->add_option("--svg", options->svg, "draw the pattern as an SVG heatmap")->type_name("FILE.svg");
  add_renamed_option(*command, "--npy", {"--out-npy"}, options->npy, options->npy_option,
                     "write the pattern [query, key] as float32 .npy, and its axes and labels to FILE.npy.json")
      ->type_name("FILE.npy");
  command->add_option("--json", options->json, "write the pattern with its token labels as JSON")->type_name("FILE.json");
  command->callback([options, text, index] { run_attention(*options, text->count() > 0, index->count() > 0); });
}

}  // namespace cscrub::cli
