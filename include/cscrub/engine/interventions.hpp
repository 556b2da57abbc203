// Ready-made Interventions: record activations (a cache) and overwrite them (patches), per hook point,
// head and position.
#pragma once
#include <map>
#include <optional>
#include <set>
#include <vector>

#include "cscrub/engine/hooks.hpp"

namespace cscrub::engine {

struct StoredActivation {
  std::array<int64_t, 4> shape{};
  int rank = 0;
  std::vector<float> values;
};

// Records every hook point in `hooks` (all of them when constructed with record_all()).
class ActivationCache : public Interventions {
 public:
  explicit ActivationCache(std::set<HookPoint> hooks) : hooks_(std::move(hooks)) {}
  static ActivationCache record_all(const ModelConfig& config);

  bool wants(HookPoint hook) const override { return hooks_.count(hook) > 0; }
  void visit(const Activation& activation) override;

  const StoredActivation& at(HookPoint hook) const;  // throws cscrub::Error if not recorded
  bool contains(HookPoint hook) const { return stored_.count(hook) > 0; }
  const std::map<HookPoint, StoredActivation>& all() const { return stored_; }

 private:
  std::set<HookPoint> hooks_;
  std::map<HookPoint, StoredActivation> stored_;
};

// Overwrites part of an activation with values from a source of the same shape (e.g. a cache of another
// prompt). `head` restricts to one head (for per-head sites), `position` to one position (query position
// for attention patterns); `scale` allows zero ablation (source empty, scale 0).
struct Patch {
  HookPoint hook;
  std::optional<int> head;
  std::optional<int> position;
  const StoredActivation* source = nullptr;  // nullptr: write `fill` instead
  float fill = 0.0f;
};

class ActivationPatcher : public Interventions {
 public:
  void add(Patch patch) { patches_.push_back(patch); }
  bool wants(HookPoint hook) const override;
  void visit(const Activation& activation) override;

 private:
  std::vector<Patch> patches_;
};

// Runs several Interventions in order (e.g. patch, then record).
class InterventionChain : public Interventions {
 public:
  void add(Interventions& interventions) { chain_.push_back(&interventions); }
  bool wants(HookPoint hook) const override;
  void visit(const Activation& activation) override;

 private:
  std::vector<Interventions*> chain_;
};

}  // namespace cscrub::engine
