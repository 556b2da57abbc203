#include "cscrub/scrub/sampling.hpp"

#include <algorithm>
#include <map>

#include "cscrub/data/random.hpp"
#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::scrub {
namespace {

uint64_t mix(uint64_t value) { return data::splitmix64(value); }

// The string two examples share exactly when they agree on `features` (a unit separator keeps fields apart).
std::string agreement_key(const data::Dataset& dataset, const data::Example& example,
                          const std::vector<std::string>& features) {
  std::string key = example.group;
  for (const std::string& feature : features) {
    key += '\x1f';
    if (feature == "none") continue;
    if (feature == "prompt") {
      for (int32_t token : example.tokens) key += std::to_string(token) + ',';
      continue;
    }
    auto index = dataset.schema.feature_index(feature);
    if (!index)
      throw Error("task '" + dataset.schema.task + "' has no feature '" + feature + "'" +
                  did_you_mean(feature, dataset.schema.features));
    key += example.features[static_cast<size_t>(*index)];
  }
  return key;
}

std::string features_key(const std::vector<std::string>& features) {
  std::string key;
  for (const auto& feature : features) key += feature + '\x1f';
  return key;
}

}  // namespace

uint64_t draw_key(uint64_t seed, int reference, const TreePath& path, DrawPurpose purpose) {
  uint64_t key = mix(seed);
  key = mix(key ^ static_cast<uint64_t>(reference));
  for (int edge : path) key = mix(key ^ (static_cast<uint64_t>(edge) + 1));
  return mix(key ^ (static_cast<uint64_t>(purpose) << 56));
}

AgreementClasses::AgreementClasses(const data::Dataset& dataset, const std::vector<std::string>& features) {
  std::map<std::string, int> class_index;
  class_of_.resize(dataset.examples.size());
  for (size_t i = 0; i < dataset.examples.size(); ++i) {
    auto [found, inserted] = class_index.try_emplace(agreement_key(dataset, dataset.examples[i], features),
                                                     static_cast<int>(classes_.size()));
    if (inserted) classes_.emplace_back();
    classes_[found->second].push_back(static_cast<int>(i));
    class_of_[i] = found->second;
  }
}

int AgreementClasses::singletons() const {
  int count = 0;
  for (const auto& members : classes_) count += members.size() == 1 ? 1 : 0;
  return count;
}

const AgreementClasses& Sampler::classes(const std::vector<std::string>& features) {
  const std::string key = features_key(features);
  auto found = by_features_.find(key);
  if (found == by_features_.end()) found = by_features_.emplace(key, AgreementClasses(dataset_, features)).first;
  return found->second;
}

int pick_member(std::span<const int> members, int example, uint64_t key, Sampling sampling) {
  if (sampling == Sampling::paper) return members[index_from_key(key, members.size())];
  if (members.size() == 1) return members.front();
  // Another member, uniformly: the members but `example`, in dataset order.
  const size_t pick = index_from_key(key, members.size() - 1);
  const size_t self = static_cast<size_t>(std::lower_bound(members.begin(), members.end(), example) - members.begin());
  return members[pick < self ? pick : pick + 1];
}

int Sampler::agreeing(const std::vector<std::string>& features, int example, uint64_t key) {
  return pick_member(classes(features).agreeing(example), example, key, sampling_);
}

std::string to_string(Sampling sampling) { return sampling == Sampling::paper ? "paper" : "cscrub"; }

std::vector<std::string> sampling_names() { return {"cscrub", "paper"}; }

Sampling parse_sampling(const std::string& name) {
  for (Sampling sampling : {Sampling::cscrub, Sampling::paper})
    if (to_string(sampling) == name) return sampling;
  throw Error("unknown sampling '" + name + "'" + did_you_mean(name, sampling_names()),
              "cscrub: a draw never returns its own input unless it is alone in its class; paper: any member of the "
              "class, the input included (Chan et al.)");
}

}  // namespace cscrub::scrub
