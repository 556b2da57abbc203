// Reading GPT-2's tokenizer files: the vocabulary (vocab.json / encoder.json: {"token": id}) and the merge
// rules (merges.txt / vocab.bpe: "#version" line, then one "left right" pair per line, highest priority
// first). Tokens are spelled in GPT-2's byte-level alphabet in both; these readers return the raw bytes.
// Every problem throws cscrub::Error naming the file and the line or token.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

namespace cscrub::io {

// Token bytes indexed by id. Ids must run from 0 to count-1, each used once. (A token listed twice under
// two ids passes here; Tokenizer::load rejects it.)
std::vector<std::string> read_vocabulary(const std::filesystem::path& vocab_json);

struct MergeRule {
  std::string left;   // bytes
  std::string right;  // bytes
  int line = 0;       // 1-based line in the file, for messages
};

// Rules in file order (their rank is their index).
std::vector<MergeRule> read_merge_rules(const std::filesystem::path& merges_txt);

}  // namespace cscrub::io
