// Reading a Hugging Face tokenizer.json of a byte-level BPE tokenizer (GPT-2's, GPT-NeoX's/Pythia's): the model's
// vocabulary and merges (each merge as "left right" or ["left", "right"]), the added tokens, an NFC normalizer
// and the ByteLevel pre-tokenizer. Anything that would tokenize differently (another model type, BPE dropout,
// subword prefixes, byte fallback, other normalizers or pre-tokenizers, added tokens that strip spaces) is
// refused by name. Every problem throws cscrub::Error naming the file.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "cscrub/io/tokenizer_files.hpp"

namespace cscrub::io {

struct AddedToken {
  std::string content;  // UTF-8, matched in the text before pre-tokenization
  int32_t id = 0;
  bool normalized = false;  // matched in the normalized text (else in the raw text)
  bool in_vocabulary = false;  // also the model's token of that id (e.g. GPT-NeoX's <|endoftext|>)
};

struct TokenizerJson {
  std::vector<std::string> token_bytes;  // by id: the model's tokens as bytes; an added token not in it: its content
  std::vector<MergeRule> merges;         // in rank order; `line` is the merge's 1-based index in the list
  std::vector<AddedToken> added_tokens;
  bool nfc = false;                      // "normalizer": {"type": "NFC"}
  bool add_prefix_space = false;         // ByteLevel's: a space before each piece that does not start with one
  bool use_regex = true;                 // ByteLevel's: pre-split with GPT-2's pattern
};

TokenizerJson read_tokenizer_json(const std::filesystem::path& path);

}  // namespace cscrub::io
