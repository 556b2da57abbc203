// libFuzzer target: a task file (what `cscrub dataset TASK --option vocabulary=FILE` reads: words, names
// and templates). The first byte picks the task (IOI, induction, pronouns), the rest is the file. Making a
// small dataset from it must either fail with cscrub::Error naming the file, or give examples that pass
// the checks every dataset meets before scrubbing (positions inside the prompt, one group one layout,
// ids in the vocabulary, texts that encode to their tokens). Only cscrub::Error may escape.
#include <array>
#include <string>

#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
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
  if (size == 0) return 0;
  static constexpr std::array<const char*, 3> kTasks = {"ioi", "induction", "pronoun"};
  const std::string task = kTasks[data[0] % kTasks.size()];
  const std::filesystem::path file = fuzz::scratch_dir() / "task.toml";
  fuzz::write_file(file, data + 1, size - 1);

  constexpr int kExamples = 6;
  data::Dataset dataset;
  try {
    dataset = data::make_dataset(task, kExamples, /*seed=*/1, tokenizer(), {{"vocabulary", file.string()}});
  } catch (const Error& error) {
    fuzz::require(std::string_view(error.what()).find(file.string()) != std::string_view::npos,
                  "task file errors name the file");
    return 0;
  }
  fuzz::require(dataset.examples.size() == static_cast<size_t>(kExamples), "as many examples as asked for");
  try {
    data::check_consistency(dataset, "generated");
    data::check_tokens(dataset, tokenizer(), "generated");
  } catch (const Error& error) {
    fuzz::require(false, error.what());
  }
  return 0;
}
