// libFuzzer target: a dataset file (JSON Lines, what `cscrub run --dataset` reads: the lines `cscrub dataset`
// writes, or lines written by hand, tokenized with GPT-2's tokenizer). read_jsonl must refuse it with
// cscrub::Error naming the source and, where it is about one line, that line; or return examples that fit their
// task's schema. Only cscrub::Error may escape.
#include <sstream>
#include <string>

#include "cscrub/data/jsonl.hpp"
#include "cscrub/error.hpp"
#include "fuzz_support.hpp"

using namespace cscrub;

namespace {

const io::Tokenizer& tokenizer() {
  static const io::Tokenizer loaded = io::Tokenizer::load(CSCRUB_FUZZ_TOKENIZER_DIR);
  return loaded;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source = "input.jsonl";
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  data::Dataset dataset;
  try {
    dataset = data::read_jsonl(in, source, &tokenizer());
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).starts_with(source), "dataset errors name the source");
    return 0;
  }
  fuzz::require(!dataset.examples.empty(), "a dataset that reads has examples");
  for (const data::Example& example : dataset.examples) {
    fuzz::require(example.positions.size() == dataset.schema.positions.size(), "one index per named position");
    fuzz::require(example.features.size() == dataset.schema.features.size(), "one value per feature");
    for (int position : example.positions)
      fuzz::require(position >= 0 && position < static_cast<int>(example.tokens.size()), "positions are in the prompt");
    for (int32_t token : example.tokens) fuzz::require(token >= 0, "token ids are non-negative");
  }
  return 0;
}
