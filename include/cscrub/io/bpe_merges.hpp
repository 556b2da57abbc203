// The merge step of byte-level BPE, on token ids: the rank table from merges.txt and the loop that applies it
// to one pre-tokenized word.
#pragma once
#include <cstddef>
#include <cstdint>
#include <unordered_map>
#include <vector>

namespace cscrub::io {

struct Merge {
  int32_t rank = 0;    // line order in merges.txt: lower merges first
  int32_t merged = 0;  // id of the token the pair becomes
};

class MergeTable {
 public:
  // A pair listed twice keeps its later rank, as Python's dict(zip(merges, range(n))) does.
  void add(int32_t left, int32_t right, Merge merge);
  const Merge* find(int32_t left, int32_t right) const;
  size_t size() const { return merges_.size(); }

 private:
  static uint64_t key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
  }
  std::unordered_map<uint64_t, Merge> merges_;
};

// Merges a word's symbols (initially one token per byte) exactly as OpenAI's bpe(): take the lowest-ranked
// adjacent pair present, merge all its occurrences left to right without overlap, repeat until no adjacent
// pair has a rank. Runs in O(n log n) via a heap, so pathological long words stay fast.
std::vector<int32_t> apply_merges(std::vector<int32_t> symbols, const MergeTable& merges);

}  // namespace cscrub::io
