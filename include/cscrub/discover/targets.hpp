// What a sweep intervenes on: parts of activations (a hook point, optionally one head and one named
// position), arranged in a grid whose every cell is intervened on in its own run.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/grid.hpp"
#include "cscrub/engine/config.hpp"
#include "cscrub/engine/hooks.hpp"

namespace cscrub::discover {

struct Target {
  engine::HookPoint hook;
  std::optional<int> head;  // one head (sites with a head dimension only); every head when empty
  std::string position;     // a named position of the task ("S2", "END"); every position when empty
};

struct TargetGrid {
  Grid layout;                             // labels and shape; values unused
  std::vector<std::vector<Target>> cells;  // row-major like layout.values: what each cell's run overwrites
};

// A site by its TransformerLens name ("attn.hook_z", "hook_resid_pre") or the name's last part ("z",
// "resid_pre", "mlp_out"). Throws cscrub::Error naming the closest site.
engine::Site parse_site(std::string_view name);
// The short name of a site: "z", "resid_pre", "ln1.scale".
std::string short_site_name(engine::Site site);
// Whether a site has a head dimension (q, k, v, z, scores, pattern, result).
bool has_heads(engine::Site site);

struct HeadId {
  int layer = 0, head = 0;
  friend auto operator<=>(const HeadId&, const HeadId&) = default;
};
// "L.H" (e.g. "9.9"), checked against the model; throws cscrub::Error naming the problem.
HeadId parse_head(std::string_view text, const engine::ModelConfig& config);

// [layer, head]: each head's part of a per-head site, at one named position or all of them.
TargetGrid head_targets(const engine::ModelConfig& config, engine::Site site, const std::string& position);
// [layer, site]: the whole of each per-layer site (every head), at one named position or all of them.
TargetGrid layer_targets(const engine::ModelConfig& config, std::span<const engine::Site> sites,
                         const std::string& position);
// [layer, named position]: a per-layer site at each of the task's named positions.
TargetGrid position_targets(const engine::ModelConfig& config, engine::Site site, const data::TaskSchema& schema);

// Human-readable, e.g. "blocks.1.attn.hook_z head 2 @END".
std::string describe(const Target& target);

}  // namespace cscrub::discover
