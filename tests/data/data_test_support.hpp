// What the data-layer tests share: the bundled model's tokenizer (GPT-2's), a dataset's JSONL bytes, sha256.
#pragma once
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "cscrub/data/dataset.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "test_paths.hpp"

namespace cscrub::test {

// GPT-2's tokenizer, from the bundled model directory (installed by tools/fetch_tokenizer.sh).
inline const io::Tokenizer& gpt2_tokenizer() {
  static const io::Tokenizer tokenizer = io::Tokenizer::load(bundled_model_dir());
  return tokenizer;
}

inline std::string jsonl_bytes(const data::Dataset& dataset) {
  std::ostringstream out;
  data::write_jsonl(dataset, gpt2_tokenizer(), out);
  return out.str();
}

// sha256 of `bytes`, by coreutils' sha256sum (an implementation independent of ours).
inline std::string sha256_hex(const std::string& bytes) {
  const auto file = scratch_dir("sha256") / "bytes";
  {
    std::ofstream out(file, std::ios::binary);
    out << bytes;
  }
  const CommandResult result = run_command("sha256sum " + shell_quote(file.string()));
  return result.output.substr(0, 64);
}

// The value of feature / position `name` of an example.
inline const std::string& feature(const data::Dataset& dataset, const data::Example& example, const std::string& name) {
  return example.features.at(static_cast<size_t>(dataset.schema.feature_index(name).value()));
}
inline int position(const data::Dataset& dataset, const data::Example& example, const std::string& name) {
  return example.positions.at(static_cast<size_t>(dataset.schema.position_index(name).value()));
}

}  // namespace cscrub::test
