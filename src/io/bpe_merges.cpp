#include "cscrub/io/bpe_merges.hpp"

#include <queue>

namespace cscrub::io {

void MergeTable::add(int32_t left, int32_t right, Merge merge) { merges_[key(left, right)] = merge; }

const Merge* MergeTable::find(int32_t left, int32_t right) const {
  auto found = merges_.find(key(left, right));
  return found == merges_.end() ? nullptr : &found->second;
}

namespace {

// A candidate merge of the symbol at `position` with the one after it, as the pair looked when queued.
// It is stale once either symbol has changed.
struct Candidate {
  int32_t rank;
  int32_t position;
  int32_t left;
  int32_t right;
  int32_t merged;
};

struct LaterFirst {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.position > b.position;
  }
};

// The word as a doubly linked list over the original positions; merged-away symbols are unlinked.
struct Word {
  std::vector<int32_t> ids;
  std::vector<int32_t> next;  // -1 at the end
  std::vector<int32_t> prev;  // -1 at the start
  std::vector<bool> alive;
};

}  // namespace

std::vector<int32_t> apply_merges(std::vector<int32_t> symbols, const MergeTable& merges) {
  const auto n = static_cast<int32_t>(symbols.size());
  if (n < 2) return symbols;

  Word word{std::move(symbols), std::vector<int32_t>(n), std::vector<int32_t>(n), std::vector<bool>(n, true)};
  for (int32_t i = 0; i < n; ++i) {
    word.next[i] = i + 1 < n ? i + 1 : -1;
    word.prev[i] = i - 1;
  }

  std::priority_queue<Candidate, std::vector<Candidate>, LaterFirst> queue;
  auto push_pair = [&](int32_t position) {
    const int32_t after = word.next[position];
    if (after < 0) return;
    if (const Merge* merge = merges.find(word.ids[position], word.ids[after])) {
      queue.push({merge->rank, position, word.ids[position], word.ids[after], merge->merged});
    }
  };
  auto is_current = [&](const Candidate& c) {
    if (!word.alive[c.position] || word.ids[c.position] != c.left) return false;
    const int32_t after = word.next[c.position];
    return after >= 0 && word.ids[after] == c.right;
  };

  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);

  std::vector<int32_t> merged_positions;
  while (!queue.empty()) {
    // One round = one iteration of Python's loop: every occurrence of the lowest-ranked pair, left to
    // right (the heap yields equal ranks by position). Pairs the round creates are queued only after
    // it, so even a merges file whose later pairs outrank earlier ones behaves like the original.
    const int32_t rank = queue.top().rank;
    merged_positions.clear();
    while (!queue.empty() && queue.top().rank == rank) {
      const Candidate candidate = queue.top();
      queue.pop();
      if (!is_current(candidate)) continue;
      const int32_t after = word.next[candidate.position];
      word.ids[candidate.position] = candidate.merged;
      word.alive[after] = false;
      word.next[candidate.position] = word.next[after];
      if (word.next[after] >= 0) word.prev[word.next[after]] = candidate.position;
      merged_positions.push_back(candidate.position);
    }
    for (int32_t position : merged_positions) {
      if (word.prev[position] >= 0) push_pair(word.prev[position]);
      push_pair(position);
    }
  }

  std::vector<int32_t> result;
  for (int32_t i = 0; i >= 0; i = word.next[i]) result.push_back(word.ids[i]);
  return result;
}

}  // namespace cscrub::io
