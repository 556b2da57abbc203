// `cscrub forward`: run the model on a prompt (text, ids or an .npy batch), print the most likely next
// tokens, optionally save the logits and time repeated forwards.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <numeric>

#include "commands.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/bpe_utf8.hpp"
#include "cscrub/io/command_files.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/npy.hpp"
#include "cscrub/io/output_file.hpp"
#include "forward_hooks.hpp"
#include "labelled_arrays.hpp"
#include "renamed_option.hpp"
#include "model_option.hpp"

namespace cscrub::cli {
namespace {

struct ForwardOptions {
  std::string model;
  std::string matmul;
  std::string text;
  std::string tokens;
  std::string tokens_npy;
  int top_k = 10;
  std::string logits_out;
  std::string logits_option;  // --npy, or --logits-out if typed so
  bool last_only = false;
  int repeat = 0;
  std::string cache;  // hook names, comma-separated, or "all"
  std::string cache_out;
  std::string cache_option;  // --npz, or --cache-out if typed so
  std::vector<std::string> patches;
};

// Token ids to run: `batch` sequences of `positions`; `batched` when they came as a [batch, pos] array,
// which decides the shape of --npy.
struct Prompt {
  std::vector<int32_t> ids;
  int batch = 1;
  int positions = 0;
  bool batched = false;
};

std::vector<int32_t> parse_token_list(const std::string& list) {
  std::vector<int32_t> ids;
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string_view item(list.data() + start, end - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    int64_t id = -1;
    const auto [rest, error] = std::from_chars(item.data(), item.data() + item.size(), id);
    if (item.empty() || error != std::errc() || rest != item.data() + item.size() || id < 0 || id > INT32_MAX) {
      throw Error("--tokens: '" + std::string(item) + "' (item " + std::to_string(ids.size() + 1) +
                      ") is not a token id",
                  "give comma-separated non-negative integers, e.g. --tokens 464,3290,318");
    }
    ids.push_back(static_cast<int32_t>(id));
    start = end + 1;
  }
  return ids;
}

Prompt read_tokens_npy(const std::filesystem::path& path) {
  const io::NpyArray array = io::read_npy(path);
  if (array.shape.empty() || array.shape.size() > 2)
    throw Error(path.string() + ": token ids must be [pos] or [batch, pos], not of rank " +
                std::to_string(array.shape.size()));
  Prompt prompt;
  prompt.batched = array.shape.size() == 2;
  prompt.batch = prompt.batched ? static_cast<int>(array.shape[0]) : 1;
  prompt.positions = static_cast<int>(array.shape.back());
  if (const auto* ids32 = std::get_if<std::vector<int32_t>>(&array.values)) {
    prompt.ids = *ids32;
  } else if (const auto* ids64 = std::get_if<std::vector<int64_t>>(&array.values)) {
    for (int64_t id : *ids64) {
      if (id < INT32_MIN || id > INT32_MAX)
        throw Error(path.string() + ": token id " + std::to_string(id) + " is outside the vocabulary");
      prompt.ids.push_back(static_cast<int32_t>(id));
    }
  } else {
    throw Error(path.string() + ": token ids must be int32 or int64, not float32");
  }
  if (prompt.ids.empty()) throw Error(path.string() + ": holds no tokens");
  return prompt;
}

enum class InputKind { text, tokens, tokens_npy };
struct GivenInput {
  InputKind kind;
  const char* option;
};

Prompt read_prompt(const ForwardOptions& options, const std::optional<io::Tokenizer>& tokenizer,
                   const std::filesystem::path& model_dir, const std::vector<GivenInput>& given) {
  if (given.empty())
    throw Error("forward: no input", "give one of --text TEXT, --tokens 1,2,3 or --tokens-npy FILE.npy");
  if (given.size() > 1)
    throw Error(std::string("forward: ") + given[0].option + " and " + given[1].option + " both given; give one input");
  Prompt prompt;
  switch (given[0].kind) {
    case InputKind::tokens_npy:
      prompt = read_tokens_npy(options.tokens_npy);
      break;
    case InputKind::tokens:
      prompt.ids = parse_token_list(options.tokens);
      break;
    case InputKind::text:
      if (!tokenizer)
        throw Error("forward: --text needs a tokenizer, and " + model_dir.string() + " has none",
                    "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe), or give ids with --tokens/--tokens-npy");
      prompt.ids = tokenizer->encode(options.text);
      if (prompt.ids.empty()) throw Error("forward: --text is empty");
      break;
  }
  if (!prompt.batched) prompt.positions = static_cast<int>(prompt.ids.size());
  return prompt;
}

// A token's bytes as a quoted, printable string: control characters and invalid UTF-8 escaped.
std::string printable(std::string_view bytes) {
  std::string out = "\"";
  size_t offset = 0;
  while (offset < bytes.size()) {
    const size_t start = offset;
    const std::optional<char32_t> code_point = io::decode_utf8(bytes, offset);
    if (!code_point) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned char>(bytes[offset++]));
    } else if (*code_point == '"' || *code_point == '\\') {
      out += '\\';
      out += static_cast<char>(*code_point);
    } else if (*code_point == '\n') {
      out += "\\n";
    } else if (*code_point == '\t') {
      out += "\\t";
    } else if (*code_point < 0x20 || *code_point == 0x7f) {
      out += fmt::format("\\x{:02x}", static_cast<unsigned>(*code_point));
    } else {
      out.append(bytes.substr(start, offset - start));
    }
  }
  return out + "\"";
}

std::string token_label(const std::optional<io::Tokenizer>& tokenizer, int32_t id) {
  if (!tokenizer || id >= tokenizer->vocab_size()) return "";
  return printable(tokenizer->token_text(id));
}

void print_sequence(const ForwardOptions& options, const std::optional<io::Tokenizer>& tokenizer,
                    std::span<const int32_t> ids, std::span<const float> last_logits, int index, bool several) {
  fmt::print("{}{} tokens: [", several ? fmt::format("sequence {}: ", index) : std::string("input: "), ids.size());
  for (size_t i = 0; i < ids.size(); ++i) fmt::print("{}{}", i ? ", " : "", ids[i]);
  fmt::print("]\n");
  if (tokenizer && std::all_of(ids.begin(), ids.end(), [&](int32_t id) { return id < tokenizer->vocab_size(); }))
    fmt::print("  text: {}\n", printable(tokenizer->decode(ids)));

  // Probabilities from a numerically stable softmax over the whole vocabulary.
  const float max_logit = *std::max_element(last_logits.begin(), last_logits.end());
  double partition = 0;
  for (float logit : last_logits) partition += std::exp(static_cast<double>(logit) - max_logit);
  std::vector<int32_t> order(last_logits.size());
  std::iota(order.begin(), order.end(), 0);
  const size_t k = std::min(static_cast<size_t>(options.top_k), order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(k), order.end(),
                    [&](int32_t a, int32_t b) { return last_logits[a] > last_logits[b] || (last_logits[a] == last_logits[b] && a < b); });
  fmt::print("  top {} next tokens:\n  {:>4}  {:>6}  {:>10}  {:>8}{}\n", k, "rank", "id", "logit", "prob",
             tokenizer ? "  token" : "");
  for (size_t r = 0; r < k; ++r) {
    const int32_t id = order[r];
    const double probability = std::exp(static_cast<double>(last_logits[id]) - max_logit) / partition;
    const std::string label = token_label(tokenizer, id);
    fmt::print("  {:>4}  {:>6}  {:>10.4f}  {:>8.5f}{}{}\n", r + 1, id, last_logits[id], probability,
               label.empty() ? "" : "  ", label);
  }
}

// The engine does not look for overflow (nothing per element in its loops): the logits this command prints
// or saves are checked once here, so that a NaN is reported rather than ranked or written out.
void require_finite_logits(const engine::RowMatrix& logits, const Prompt& prompt, int rows_per_sequence,
                           int vocab_size) {
  for (int b = 0; b < prompt.batch; ++b) {
    for (int r = 0; r < rows_per_sequence; ++r) {
      const float* row = logits.data() + (static_cast<size_t>(b) * rows_per_sequence + r) * vocab_size;
      const float* bad = std::find_if(row, row + vocab_size, [](float logit) { return !std::isfinite(logit); });
      if (bad == row + vocab_size) continue;
      const int position = rows_per_sequence == 1 ? prompt.positions - 1 : r;
      throw Error(fmt::format("the model produced non-finite logits ({}) at sequence {}, position {} (first for "
                              "token id {}): the forward pass overflowed float32",
                              std::isnan(*bad) ? "NaN" : *bad > 0 ? "+Inf" : "-Inf", b, position, bad - row),
                  "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
    }
  }
}

void run_forward(const ForwardOptions& options, const std::vector<GivenInput>& given) {
  if (options.top_k < 1) throw Error("--top-k must be at least 1");
  if (options.cache.empty() != options.cache_out.empty())
    throw Error(options.cache.empty() ? "--npz needs --cache NAME[,NAME...] (or --cache all)"
                                      : "--cache needs --npz FILE.npz to write the activations to");
  if (options.repeat < 0) throw Error("--repeat must not be negative");
  io::CommandFiles files;
  files.add_model_inputs(options.model);
  files.add_input(options.tokens_npy);
  files.add_output(options.logits_out, options.logits_option);
  if (!options.logits_out.empty()) files.add_output(sidecar_path(options.logits_out), options.logits_option + "'s sidecar");
  files.add_output(options.cache_out, options.cache_option);
  for (const std::string& patch : options.patches) files.add_input(patch_file(patch));
  files.check();
  const std::filesystem::path model_dir = options.model;
  const engine::MatmulKernel matmul = app::matmul_kernel_for(options.matmul);
  engine::Weights weights = io::load_weights(model_dir);
  weights.matmul = matmul;
  const engine::ModelConfig& config = weights.config;
  const std::optional<io::Tokenizer> tokenizer = app::load_tokenizer_if_present(model_dir);
  const Prompt prompt = read_prompt(options, tokenizer, model_dir, given);
  const engine::TokenBatch batch{prompt.ids, prompt.batch, prompt.positions};
  engine::check_tokens(config, batch);

  fmt::print("model: {} ({} layers, {} heads, d_model {}, vocab {}, n_ctx {}; products {})\n", model_dir.string(),
             config.n_layer, config.n_head, config.d_model, config.vocab_size, config.n_ctx,
             engine::to_string(weights.matmul));
  // Only the last position's logits are needed unless all of them are to be saved.
  engine::LogitRequest request;
  const bool all_positions = !options.logits_out.empty() && !options.last_only;
  request.positions = all_positions ? engine::LogitRequest::Positions::all : engine::LogitRequest::Positions::last;
  // Hooks from the shell: patches first, so that the cache records what the pass continued from.
  HookPatches patches(options.patches, config, prompt.batch, prompt.positions);
  engine::ActivationCache cache(options.cache.empty() ? std::set<engine::HookPoint>{}
                                                      : parse_cache_names(options.cache, config));
  engine::InterventionChain hooks;
  if (!patches.empty()) hooks.add(patches.patcher());
  if (!options.cache.empty()) hooks.add(cache);
  const bool hooked = !patches.empty() || !options.cache.empty();
  const engine::RowMatrix logits = engine::forward(weights, batch, request, hooked ? &hooks : nullptr);
  const int rows_per_sequence = all_positions ? prompt.positions : 1;
  require_finite_logits(logits, prompt, rows_per_sequence, config.vocab_size);

  for (int b = 0; b < prompt.batch; ++b) {
    const auto ids = std::span<const int32_t>(prompt.ids).subspan(static_cast<size_t>(b) * prompt.positions,
                                                                  static_cast<size_t>(prompt.positions));
    const auto last_row = static_cast<size_t>((b + 1) * rows_per_sequence - 1);
    const std::span<const float> last(logits.data() + last_row * config.vocab_size, static_cast<size_t>(config.vocab_size));
    print_sequence(options, tokenizer, ids, last, b, prompt.batch > 1);
  }

  if (!options.logits_out.empty()) {
    std::vector<int64_t> shape = {rows_per_sequence, config.vocab_size};
    if (prompt.batched) shape.insert(shape.begin(), prompt.batch);
    ArrayMeaning meaning;
    meaning.values = "logits (before softmax) of the next token at each position";
    if (prompt.batched) meaning.axes.push_back({"sequence", {}});
    Axis positions{all_positions ? "position" : "last position", {}};
    if (tokenizer && !prompt.batched && all_positions)
      for (int32_t id : prompt.ids) positions.labels.push_back(id < tokenizer->vocab_size() ? tokenizer->token_text(id) : "");
    meaning.axes.push_back(std::move(positions));
    meaning.axes.push_back({"token id", {}});
    write_labelled_npy(options.logits_out, std::span<const float>(logits.data(), static_cast<size_t>(logits.size())),
                       shape, meaning);
    fmt::print("logits: {} float32 [{}] written to {}\n", all_positions ? "all positions'" : "last position's",
               fmt::join(shape, ", "), options.logits_out);
  }

  if (!options.cache_out.empty()) {
    io::write_file_atomically(options.cache_out, cache_npz(cache, config, options.cache_out));
    fmt::print("cache: {} activations ([batch, ...] float32, by hook name{}) written to {}\n", cache.all().size(),
               patches.empty() ? "" : ", after the patches", options.cache_out);
  }

  if (options.repeat > 0) {
    const auto start = std::chrono::steady_clock::now();
    engine::ForwardScratch scratch;
    engine::RowMatrix repeated_logits;
    for (int i = 0; i < options.repeat; ++i)
      engine::forward_into(weights, batch, request, repeated_logits, nullptr, &scratch);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double tokens = static_cast<double>(options.repeat) * prompt.batch * prompt.positions;
    fmt::print("repeat: {} forwards of {} x {} tokens in {:.3f} s: {:.1f} ms per forward, {:.0f} tokens/s\n",
               options.repeat, prompt.batch, prompt.positions, seconds, 1e3 * seconds / options.repeat,
               tokens / seconds);
  }
}

}  // namespace

void add_forward_command(CLI::App& app) {
  auto options = std::make_shared<ForwardOptions>();
  CLI::App* command = app.add_subcommand("forward", "run the model on a prompt and print the likeliest next tokens");
  add_model_option(*command, options->model);
  add_matmul_option(*command, options->matmul);
  CLI::Option* text = command->add_option("--text", options->text, "prompt text (needs the model's tokenizer)");
  CLI::Option* tokens = command->add_option("--tokens", options->tokens, "prompt as comma-separated token ids")
                            ->type_name("1,2,3");
  CLI::Option* tokens_npy =
      command->add_option("--tokens-npy", options->tokens_npy, "token ids: int32/int64 .npy, [pos] or [batch, pos]")
          ->type_name("FILE.npy");
  command->add_option("--top-k", options->top_k, "how many next tokens to print")->capture_default_str();
  add_renamed_option(*command, "--npy", {"--logits-out"}, options->logits_out, options->logits_option,
                      "write float32 logits: [pos, vocab], or [batch, pos, vocab] for a [batch, pos] --tokens-npy "
                      "(their axes in FILE.npy.json)")
      ->type_name("FILE.npy");
  command->add_flag("--last-only", options->last_only, "with --npy: only the last position's logits");
  command->add_option("--repeat", options->repeat, "time N further forwards and print tokens/s")->type_name("N");
  command->add_option("--cache", options->cache,
                      "hook points to save into --npz, by TransformerLens name, comma-separated (e.g. "
                      "blocks.0.attn.hook_pattern,blocks.2.hook_resid_post), or all")
      ->type_name("NAME[,NAME...]");
  add_renamed_option(*command, "--npz", {"--cache-out"}, options->cache_out, options->cache_option,
                      "write the --cache activations as .npz: np.load(FILE)[NAME] is the [batch, ...] float32 array")
      ->type_name("FILE.npz");
  command->add_option("--patch", options->patches, kPatchHelp)->type_name("HOOK[:HEAD[:POS]]=FILE.npy");
  command->callback([options, text, tokens, tokens_npy] {
    std::vector<GivenInput> given;
    if (text->count() > 0) given.push_back({InputKind::text, "--text"});
    if (tokens->count() > 0) given.push_back({InputKind::tokens, "--tokens"});
    if (tokens_npy->count() > 0) given.push_back({InputKind::tokens_npy, "--tokens-npy"});
    run_forward(*options, given);
  });
}

}  // namespace cscrub::cli
