// Datasets saved as JSON Lines, one prompt per line, so that `cscrub run --dataset FILE.jsonl` can reuse a
// dataset and other tools (pandas, jq) can read it. Each line is an object:
//   {"text", "tokens": [ids], "answer_id", "answer_text", "distractor_id", "distractor_text" (null when the
//    task has none), "positions": {label: index}, "features": {name: value}, "group", "task", "seed",
//    "generator"}
// datasets/README.md describes the fields.
#pragma once
#include <filesystem>
#include <iosfwd>
#include <string>

#include "cscrub/data/dataset.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::data {

// Same dataset, same bytes. The tokenizer supplies the answer and distractor strings.
void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, std::ostream& out);
// Throws cscrub::Error naming the file when it cannot be written.
void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, const std::filesystem::path& file);

// Reads a dataset; every problem (not JSON, a missing or mistyped field, a position or feature the task
// does not have, mixed tasks, misaligned groups) throws cscrub::Error naming the file and line.
Dataset read_jsonl(const std::filesystem::path& file);
Dataset read_jsonl(std::istream& in, const std::string& source_name);

}  // namespace cscrub::data
