// Datasets written by hand: JSON lines that need only {"text", "answer", "distractor"} (read_jsonl passes them
// here). The tokens come from the tokenizer, the END position is the last token, and the alignment group is
// derived from the length and the named positions; "positions", "features", "group" and "task" are optional.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::data {

struct SimpleLine {
  nlohmann::ordered_json json;
  std::string where;  // "file:line: "
};

// The dataset of the lines; `tokenizer` may be null, which is an error naming the file. Every line's missing
// fields (and missing positions and features) are reported together, in one error.
Dataset read_simple_lines(const std::vector<SimpleLine>& lines, const io::Tokenizer* tokenizer,
                          const std::string& source_name);

}  // namespace cscrub::data
