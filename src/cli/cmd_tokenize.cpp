// `cscrub tokenize`: a model's token ids of a text, optionally with each token's text, as JSON.
#include <fmt/format.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "model_option.hpp"

namespace cscrub::cli {
namespace {

struct TokenizeOptions {
  std::string model;
  std::string text;
  bool json = false;
};

void run_tokenize(const TokenizeOptions& options) {
  // Tokenizer::load's error names the directory and hints at tools/fetch_tokenizer.sh.
  const io::Tokenizer tokenizer = io::Tokenizer::load(options.model);
  const std::vector<int32_t> ids = tokenizer.encode(options.text);
  if (!options.json) {
    fmt::print("{}\n", fmt::join(ids, " "));
    return;
  }
  nlohmann::json tokens = nlohmann::json::array();
  for (int32_t id : ids) tokens.push_back(tokenizer.token_text(id));
  const nlohmann::json out = {{"ids", ids}, {"tokens", tokens}};
  // A token can hold part of a multi-byte character (emoji are often split): those bytes print as U+FFFD.
  fmt::print("{}\n", out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

}  // namespace

void add_tokenize_command(CLI::App& app) {
  auto options = std::make_shared<TokenizeOptions>();
  CLI::App* command = app.add_subcommand("tokenize", "print a model's token ids for a text");
  add_model_option(*command, options->model);
  command->add_flag("--json", options->json,
                    "print {\"ids\": [...], \"tokens\": [...]} with each token's text (partial UTF-8 shown as U+FFFD)");
  command->add_option("TEXT", options->text, "the text to tokenize (UTF-8; \"<|endoftext|>\" is ordinary text)")
      ->required();
  command->callback([options] { run_tokenize(*options); });
}

}  // namespace cscrub::cli
