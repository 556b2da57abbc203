// Which inputs causal scrubbing feeds each node: a draw is a pure function of (seed, reference input, path
// through the treeified hypothesis, purpose), so results do not depend on batch size, thread count or
// evaluation order, and a slow reference implementation can reproduce every draw.
#pragma once
#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "cscrub/data/dataset.hpp"

namespace cscrub::scrub {

// A path from the output down the treeified hypothesis: the edge indices taken, output first.
using TreePath = std::vector<int>;

enum class DrawPurpose : uint64_t { agreeing = 1, random = 2 };

// A well-mixed 64-bit key for one draw.
uint64_t draw_key(uint64_t seed, int reference, const TreePath& path, DrawPurpose purpose);

// Uniform index in [0, count) from a key (count > 0).
inline size_t index_from_key(uint64_t key, size_t count) {
  return static_cast<size_t>((static_cast<unsigned __int128>(key) * count) >> 64);
}

// The classes of inputs that agree on a feature list, within alignment groups: agreeing(i) lists, in
// dataset order, every example of i's group whose features in the list equal i's (i included).
// Special features: "prompt" (identical token ids) and "none" (the whole group).
class AgreementClasses {
 public:
  AgreementClasses(const data::Dataset& dataset, const std::vector<std::string>& features);
  std::span<const int> agreeing(int example) const { return classes_[class_of_[example]]; }
  // How many examples have no other agreeing example (diagnostic: the feature pins the input down).
  int singletons() const;

 private:
  std::vector<std::vector<int>> classes_;
  std::vector<int> class_of_;
};

// Whether a draw may return the input it is drawn for (docs/hypothesis-format.md, "Sampling").
enum class Sampling {
  // Another member of the class, uniformly; the input itself only when it is alone in its class. With a
  // finite dataset this keeps a draw from leaving the input unresampled by chance.
  cscrub,
  // Any member of the class, uniformly, the input itself included: the method's definition (Chan et al.).
  paper,
};
std::string to_string(Sampling sampling);
std::vector<std::string> sampling_names();
// Throws cscrub::Error naming the closest mode.
Sampling parse_sampling(const std::string& name);

// The member a draw picks from `members` (a class in dataset order, `example` among them) for `key`.
int pick_member(std::span<const int> members, int example, uint64_t key, Sampling sampling);

// Agreement classes per feature list, built once and shared.
class Sampler {
 public:
  explicit Sampler(const data::Dataset& dataset, Sampling sampling = Sampling::cscrub)
      : dataset_(dataset), sampling_(sampling) {}
  const AgreementClasses& classes(const std::vector<std::string>& features);
  // One input agreeing with `example` on `features`, for the draw identified by the key arguments, by the
  // sampling rule (pick_member).
  int agreeing(const std::vector<std::string>& features, int example, uint64_t key);
  // An input of `example`'s alignment group, uniformly by the same rule (the method's random input).
  int random_in_group(int example, uint64_t key) { return agreeing({"none"}, example, key); }
  // How many examples share `example`'s alignment group (itself included).
  int random_group_size(int example) { return static_cast<int>(classes({"none"}).agreeing(example).size()); }
  Sampling sampling() const { return sampling_; }

 private:
  const data::Dataset& dataset_;
  Sampling sampling_;
  std::unordered_map<std::string, AgreementClasses> by_features_;
};

}  // namespace cscrub::scrub
