// Prompt pairs written by the user, as JSON Lines: one pair per line,
//   {"clean": IDS or TEXT, "corrupted": IDS or TEXT, "answer": ID or TEXT, "distractor": ID or TEXT}
// IDS is an array of token ids, TEXT a string encoded with the model's tokenizer exactly as written (no
// beginning-of-sequence token is added: put id 50256 first to have one). The answer and distractor are read
// at the last position of the clean prompt; as text each must be a single token (" Mary", with its space).
// Clean and corrupted prompts have the same length in tokens; pairs of different lengths may share a file.
#pragma once
#include <filesystem>
#include <iosfwd>
#include <string>

#include "cscrub/discover/pairs.hpp"
#include "cscrub/engine/config.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::discover {

// The pairs as a PairedDataset of task "pairs": each prompt in the alignment group of its length ("len12"),
// with one named position, END (the last token), and no features. `tokenizer` may be null when every value
// is given as ids. Every problem throws cscrub::Error naming the file and line: not JSON, a missing, unknown
// or mistyped field, a text without a tokenizer, an answer text of several tokens, clean and corrupted of
// different lengths, an id outside the model's vocabulary, a prompt longer than its context, an empty file.
PairedDataset read_pair_file(const std::filesystem::path& file, const engine::ModelConfig& config,
                             const io::Tokenizer* tokenizer);
PairedDataset read_pairs(std::istream& in, const std::string& source_name, const engine::ModelConfig& config,
                         const io::Tokenizer* tokenizer);

}  // namespace cscrub::discover
