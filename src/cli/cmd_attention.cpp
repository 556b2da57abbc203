// `cscrub attention`: one head's attention pattern on one prompt (given as text, or a task's prompt by
// index); prints the most attended key of every query and draws the query x key pattern as an SVG.
#include <fmt/format.h>

#include <cmath>
#include <limits>
#include <memory>

#include "command_inputs.hpp"
#include "commands.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/attention.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/npy.hpp"
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

struct Prompt {
  std::string text;
  std::vector<int32_t> tokens;
  std::vector<std::string> labels;  // one per token: its text, and its named position if it has one
};

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

Prompt read_prompt(const AttentionOptions& options, const LoadedModel& model, bool text_given, bool index_given) {
  const io::Tokenizer& tokenizer = model.tokenizer();
  if (text_given == index_given)
    throw Error("attention: give exactly one prompt", "--text TEXT, or --index I for prompt I of --task (e.g. ioi) or --dataset");
  Prompt prompt;
  if (text_given) {
    prompt.text = options.text;
    prompt.tokens = tokenizer.encode(options.text);
    if (prompt.tokens.empty()) throw Error("attention: --text is empty");
    for (int32_t id : prompt.tokens) prompt.labels.push_back(tokenizer.token_text(id));
    return prompt;
  }
  check_prompt_options(options.prompts);
  if (options.prompts.dataset.empty() && (options.index < 0 || options.index >= options.prompts.n))
    throw Error("--index " + std::to_string(options.index) + " is outside the " + std::to_string(options.prompts.n) +
                    " prompts",
                "give 0 to " + std::to_string(options.prompts.n - 1) + " (or a larger --n)");
  const data::Dataset dataset = load_prompts(options.prompts, model);
  if (options.index < 0 || options.index >= static_cast<int>(dataset.examples.size()))
    throw Error("--index " + std::to_string(options.index) + " is outside the " +
                    std::to_string(dataset.examples.size()) + " prompts of " + options.prompts.dataset,
                "give 0 to " + std::to_string(dataset.examples.size() - 1));
  const data::Example& example = dataset.examples[static_cast<size_t>(options.index)];
  prompt.text = example.text;
  prompt.tokens = example.tokens;
  // Named positions tag their token, e.g. " John [S2]".
  std::vector<std::string> names(prompt.tokens.size());
  for (size_t i = 0; i < example.positions.size(); ++i) {
    std::string& name = names[static_cast<size_t>(example.positions[i])];
    name += (name.empty() ? "" : ", ") + dataset.schema.positions[i];
  }
  for (size_t p = 0; p < prompt.tokens.size(); ++p)
    prompt.labels.push_back(tokenizer.token_text(prompt.tokens[p]) + (names[p].empty() ? "" : " [" + names[p] + "]"));
  return prompt;
}

void run_attention(const AttentionOptions& options, bool text_given, bool index_given) {
  check_discover_files(options.prompts, options.npy, options.npy_option, options.svg, options.json);
  const LoadedModel model = load_model_and_tokenizer(options.prompts.model, options.prompts.matmul);
  const discover::HeadId head = discover::parse_head(options.head, model.weights.config);
  const Prompt prompt = read_prompt(options, model, text_given, index_given);
  const engine::RowMatrix pattern = discover::attention_pattern(model.weights, prompt.tokens, head);
  const int positions = static_cast<int>(prompt.tokens.size());

  fmt::print("model: {} ({} layers x {} heads)\n", model.dir.string(), model.weights.config.n_layer,
             model.weights.config.n_head);
  fmt::print("prompt: {} ({} tokens)\n", quoted(prompt.text), positions);
  fmt::print("head {}.{}: the most attended key of each query\n\n", head.layer, head.head);
  size_t width = 0;
  for (const auto& label : prompt.labels) width = std::max(width, quoted(label).size());
  for (int query = 0; query < positions; ++query) {
    Eigen::Index key = 0;
    const float weight = pattern.row(query).maxCoeff(&key);
    fmt::print("{:>4} {:<{}}  \u2192 {:>3} {:<{}}  {:.3f}\n", query, quoted(prompt.labels[static_cast<size_t>(query)]),
               width, key, quoted(prompt.labels[static_cast<size_t>(key)]), width, weight);
  }

  const std::string meaning = fmt::format("attention probabilities of head {}.{} (hook_pattern): row = query, "
                                          "column = key; 0 above the diagonal (a query cannot see later keys)",
                                          head.layer, head.head);
  if (!options.npy.empty()) {
    const std::vector<float> values(pattern.data(), pattern.data() + pattern.size());
    const std::vector<int64_t> shape{positions, positions};
    write_labelled_npy(options.npy, values, shape,
                       {.axes = {{"query", prompt.labels}, {"key", prompt.labels}}, .values = meaning, .not_a_number = {}});
    fmt::print("\nwrote the pattern [query, key] to {}\n", options.npy);
  }
  if (!options.json.empty()) {
    nlohmann::ordered_json rows = nlohmann::ordered_json::array();
    for (int query = 0; query < positions; ++query)
      rows.push_back(std::vector<float>(pattern.row(query).data(), pattern.row(query).data() + positions));
    write_json_result(options.json, {{"command", "attention"},
                                     {"model", model.dir.string()},
                                     {"head", fmt::format("{}.{}", head.layer, head.head)},
                                     {"prompt", prompt.text},
                                     {"tokens", prompt.tokens},
                                     {"meaning", meaning},
                                     {"pattern",
                                      {{"axes", {"query", "key"}},
                                       {"labels", {{"query", prompt.labels}, {"key", prompt.labels}}},
                                       {"values", rows}}}});
    fmt::print("wrote the results to {}\n", options.json);
  }
  if (!options.svg.empty()) {
    Heatmap heatmap{.title = fmt::format("Attention pattern of head {}.{}", head.layer, head.head),
                    .subtitle = quoted(prompt.text) + " \u00b7 " + model_name(model.dir),
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
