// `cscrub forward --cache NAMES --cache-out FILE.npz` and `--patch HOOK[:HEAD[:POS]]=FILE.npy`: hook points
// read and overwritten from the shell, by TransformerLens name.
#pragma once
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "cscrub/engine/interventions.hpp"

namespace cscrub::cli {

// "blocks.0.attn.hook_z,blocks.1.hook_resid_post" (or "all") -> hook points; a misspelt name gets the closest
// valid one.
std::set<engine::HookPoint> parse_cache_names(const std::string& list, const engine::ModelConfig& config);

// The patches of --patch specs for a pass over `batch` sequences of `positions` tokens: each file must hold the
// hook's whole activation for this input (float32, [batch, ...] as --cache-out saves it); HEAD and POS (an index,
// or * for all) restrict what is copied from it. Throws cscrub::Error naming the spec and the problem.
class HookPatches {
 public:
  HookPatches(const std::vector<std::string>& specs, const engine::ModelConfig& config, int batch, int positions);
  engine::ActivationPatcher& patcher() { return patcher_; }
  bool empty() const { return sources_.empty(); }

 private:
  std::deque<engine::StoredActivation> sources_;  // the patcher points into them
  engine::ActivationPatcher patcher_;
};

// The recorded activations as .npz bytes, one float32 array per hook named by its TransformerLens name, in
// forward order.
std::string cache_npz(const engine::ActivationCache& cache, const engine::ModelConfig& config, const std::string& file);

// The file a --patch spec names (after its '='; empty when it names none).
std::string patch_file(const std::string& spec);

// The help of --patch.
extern const char* const kPatchHelp;

}  // namespace cscrub::cli
