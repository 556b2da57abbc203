#include "cscrub/engine/interventions.hpp"

#include <algorithm>

#include "cscrub/error.hpp"

namespace cscrub::engine {

ActivationCache ActivationCache::record_all(const ModelConfig& config) {
  std::set<HookPoint> hooks;
  for (const SiteInfo& info : sites()) {
    if (!has_site(config, info.site)) continue;
    if (!info.per_layer) {
      hooks.insert({info.site, -1});
      continue;
    }
    for (int layer = 0; layer < config.n_layer; ++layer) hooks.insert({info.site, layer});
  }
  return ActivationCache(std::move(hooks));
}

void ActivationCache::visit(const Activation& activation) {
  StoredActivation& stored = stored_[activation.hook];
  stored.shape = activation.shape;
  stored.rank = activation.rank;
  stored.values.assign(activation.data.begin(), activation.data.end());
}

const StoredActivation& ActivationCache::at(HookPoint hook) const {
  auto found = stored_.find(hook);
  if (found == stored_.end()) throw Error("activation " + hook_name(hook) + " was not recorded");
  return found->second;
}

bool ActivationPatcher::wants(HookPoint hook) const {
  return std::any_of(patches_.begin(), patches_.end(), [&](const Patch& patch) { return patch.hook == hook; });
}

namespace {

// Calls `write(offset, length)` for every innermost run of `activation` selected by head and position.
template <class Write>
void for_each_selected_run(const Activation& activation, const Patch& patch, Write&& write) {
  const auto& shape = activation.shape;
  const Layout layout = site_info(activation.hook.site).layout;
  const bool per_head = layout == Layout::pos_head_dhead || layout == Layout::pos_head_model ||
                        layout == Layout::head_pos_pos;
  if (patch.head && !per_head)
    throw Error("patch of " + hook_name(activation.hook) + ": this hook point has no head dimension");
  if (activation.rank == 3) {
    const int64_t batch = shape[0], positions = shape[1], width = shape[2];
    if (patch.position && (*patch.position < 0 || *patch.position >= positions))
      throw Error("patch of " + hook_name(activation.hook) + ": position " + std::to_string(*patch.position) +
                  " outside 0-" + std::to_string(positions - 1));
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t p = 0; p < positions; ++p)
        if (!patch.position || *patch.position == p) write((b * positions + p) * width, width);
    return;
  }
  // Rank 4: [batch, pos, head, width] or, for attention patterns, [batch, head, query, key].
  const bool head_first = layout == Layout::head_pos_pos;
  const int64_t batch = shape[0], outer = shape[1], inner = shape[2], width = shape[3];
  const int64_t heads = head_first ? outer : inner, positions = head_first ? inner : outer;
  if (patch.head && (*patch.head < 0 || *patch.head >= heads))
    throw Error("patch of " + hook_name(activation.hook) + ": head " + std::to_string(*patch.head) + " outside 0-" +
                std::to_string(heads - 1));
  if (patch.position && (*patch.position < 0 || *patch.position >= positions))
    throw Error("patch of " + hook_name(activation.hook) + ": position " + std::to_string(*patch.position) +
                " outside 0-" + std::to_string(positions - 1));
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < outer; ++i)
      for (int64_t j = 0; j < inner; ++j) {
        const int64_t head = head_first ? i : j, position = head_first ? j : i;
        if (patch.head && *patch.head != head) continue;
        if (patch.position && *patch.position != position) continue;
        write(((b * outer + i) * inner + j) * width, width);
      }
}

}  // namespace

void ActivationPatcher::visit(const Activation& activation) {
  for (const Patch& patch : patches_) {
    if (patch.hook != activation.hook) continue;
    if (patch.source != nullptr && (patch.source->rank != activation.rank || patch.source->shape != activation.shape))
      throw Error("patch of " + hook_name(activation.hook) + ": the source activation has a different shape");
    for_each_selected_run(activation, patch, [&](int64_t offset, int64_t length) {
      float* target = activation.data.data() + offset;
      if (patch.source != nullptr)
        std::copy_n(patch.source->values.data() + offset, length, target);
      else
        std::fill_n(target, length, patch.fill);
    });
  }
}

bool InterventionChain::wants(HookPoint hook) const {
  return std::any_of(chain_.begin(), chain_.end(), [&](const Interventions* each) { return each->wants(hook); });
}

void InterventionChain::visit(const Activation& activation) {
  for (Interventions* each : chain_)
    if (each->wants(activation.hook)) each->visit(activation);
}

}  // namespace cscrub::engine
