// Datasets saved as JSON Lines, one prompt per line, so that `cscrub run --dataset FILE.jsonl` can reuse a
// dataset and other tools (pandas, jq) can read it. Each line `cscrub dataset` writes is an object:
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

// The task of lines written by hand that name none: its positions and features are those the lines give.
inline constexpr const char* kCustomTask = "custom";

// Same dataset, same bytes. The tokenizer supplies the answer and distractor strings.
void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, std::ostream& out);
// Throws cscrub::Error naming the file when it cannot be written.
void write_jsonl(const Dataset& dataset, const io::Tokenizer& tokenizer, const std::filesystem::path& file);

// Reads a dataset; every problem (not JSON, a missing or mistyped field, a position or feature the task
// does not have, mixed tasks, misaligned groups) throws cscrub::Error naming the file and line.
// Lines may also be written by hand with only {"text", "answer", "distractor"} (one token's text or id; null when
// there is none), and optionally "positions" {label: index}, "features" {name: value}, "group" and "task": the
// tokenizer then supplies the tokens (an error without one), END is the last token, the group is derived from the
// length and the positions, and the task is "custom" (positions and features: those the lines give) unless a
// line names a task, whose positions and features every line must then give. Every missing field is reported in
// one error. A file holds lines of one form.
Dataset read_jsonl(const std::filesystem::path& file, const io::Tokenizer* tokenizer = nullptr);
Dataset read_jsonl(std::istream& in, const std::string& source_name, const io::Tokenizer* tokenizer = nullptr);

}  // namespace cscrub::data
