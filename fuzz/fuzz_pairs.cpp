// libFuzzer target: a pair file (JSON Lines, what `cscrub patch --pairs` reads), with the bundled model's
// config and GPT-2's tokenizer for texts. read_pairs must refuse it with cscrub::Error naming the source, or
// return pairs patching can use: as many corrupted prompts as clean ones, each pair of one length within the
// context, every id inside the vocabulary, END at the last token, an answer and a distractor. Only
// cscrub::Error may escape.
#include <sstream>
#include <string>

#include "cscrub/discover/pair_file.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "fuzz_support.hpp"

using namespace cscrub;

namespace {

const engine::ModelConfig& config() {
  static const engine::ModelConfig loaded =
      io::read_config(std::filesystem::path(CSCRUB_FUZZ_TOKENIZER_DIR) / "config.json");
  return loaded;
}

const io::Tokenizer& tokenizer() {
  static const io::Tokenizer loaded = io::Tokenizer::load(CSCRUB_FUZZ_TOKENIZER_DIR);
  return loaded;
}

bool in_vocabulary(int32_t id) { return id >= 0 && id < config().vocab_size; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source = "input.jsonl";
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  discover::PairedDataset pairs;
  try {
    pairs = discover::read_pairs(in, source, config(), &tokenizer());
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(source), "pair file errors name the source");
    return 0;
  }
  const auto& clean = pairs.clean.examples;
  const auto& corrupted = pairs.corrupted.examples;
  fuzz::require(!clean.empty() && clean.size() == corrupted.size(), "as many corrupted prompts as clean ones");
  for (size_t i = 0; i < clean.size(); ++i) {
    const size_t length = clean[i].tokens.size();
    fuzz::require(length > 0 && length <= static_cast<size_t>(config().n_ctx), "a prompt fits the context");
    fuzz::require(corrupted[i].tokens.size() == length, "the prompts of a pair have one length");
    for (const auto* example : {&clean[i], &corrupted[i]})
      for (int32_t id : example->tokens) fuzz::require(in_vocabulary(id), "token ids are in the vocabulary");
    fuzz::require(in_vocabulary(clean[i].answer) && in_vocabulary(clean[i].distractor),
                  "the answer and the distractor are tokens of the vocabulary");
    fuzz::require(clean[i].positions == std::vector<int>{static_cast<int>(length) - 1}, "END is the last token");
  }
  try {
    discover::check_pairs(pairs);
  } catch (const Error&) {
    fuzz::require(false, "pairs that read pass check_pairs");
  }
  return 0;
}
