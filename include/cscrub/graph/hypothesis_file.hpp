// Reading hypothesis files (TOML, see docs/hypothesis-format.md) into graph::Hypothesis.
#pragma once
#include <filesystem>
#include <string_view>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

// Reads `file` and, through `extends`, the files it is a variant of, into one Hypothesis. Checks what
// needs no model or task: TOML syntax, keys (with the closest valid key for a typo), value types, head
// syntax, node names in parents / [remove] / [edit], the extends chain (missing files, loops) and the
// presence of an [output]. Throws cscrub::Error with file:line:column on the first problem. Heads in
// range, features, positions, injectivity, the homomorphism into G and cycles are checked by
// find_problems (check.hpp).
Hypothesis read_hypothesis_file(const std::filesystem::path& file);

// The same for the text of `file` already in memory (an editor's buffer, a fuzzer's input): `file` names
// it in messages and is where a relative `extends` starts from; the files it extends are read from disk.
Hypothesis read_hypothesis_text(std::string_view text, const std::filesystem::path& file);

// The longest extends chain read: a file and the 63 it extends, one through another.
inline constexpr size_t kMaxExtendsChain = 64;
// The most nodes a hypothesis has (after its extends chain), and entries any array or table of a file holds:
// far beyond any circuit, and a bound on the checks that compare them pairwise.
inline constexpr size_t kMaxHypothesisEntries = 4096;

// `file` and the files it extends, nearest first, as far as they can be read: the inputs a command names
// by naming `file` (a broken file ends the list; reading the hypothesis reports it). Nothing for a builtin.
std::vector<std::filesystem::path> hypothesis_files(const std::filesystem::path& file);

}  // namespace cscrub::graph
