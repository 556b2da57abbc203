#include "cscrub/discover/targets.hpp"

#include <charconv>

#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::discover {
namespace {

// Throws unless `site` exists once per layer (sweeps run over layers).
void require_per_layer(engine::Site site) {
  if (!engine::site_info(site).per_layer)
    throw Error("site '" + short_site_name(site) + "' is not inside a block; sweeps over layers need one that is",
                "e.g. resid_pre, attn_out, mlp_out, z");
}

}  // namespace

std::string short_site_name(engine::Site site) {
  std::string name(engine::site_info(site).name);
  if (name.starts_with("attn.")) name.erase(0, 5);
  const size_t hook = name.find("hook_");
  if (hook != std::string::npos) name.erase(hook, 5);
  return name;
}

engine::Site parse_site(std::string_view name) {
  std::vector<std::string> names;
  for (const engine::SiteInfo& info : engine::sites()) {
    if (name == info.name || name == short_site_name(info.site)) return info.site;
    names.push_back(short_site_name(info.site));
  }
  throw Error("unknown site '" + std::string(name) + "'" + did_you_mean(name, names),
              "sites: z, q, k, v, pattern, result, attn_out, mlp_out, resid_pre, resid_mid, resid_post, ... "
              "(or the TransformerLens name, e.g. attn.hook_z)");
}

bool has_heads(engine::Site site) {
  const engine::Layout layout = engine::site_info(site).layout;
  return layout == engine::Layout::pos_head_dhead || layout == engine::Layout::pos_head_model ||
         layout == engine::Layout::head_pos_pos;
}

HeadId parse_head(std::string_view text, const engine::ModelConfig& config) {
  const size_t dot = text.find('.');
  HeadId id{-1, -1};
  auto number = [](std::string_view part, int& out) {
    const auto [end, error] = std::from_chars(part.data(), part.data() + part.size(), out);
    return !part.empty() && error == std::errc() && end == part.data() + part.size();
  };
  if (dot == std::string_view::npos || !number(text.substr(0, dot), id.layer) || !number(text.substr(dot + 1), id.head))
    throw Error("'" + std::string(text) + "' is not a head", "write heads as LAYER.HEAD, e.g. 2.1");
  if (id.layer < 0 || id.layer >= config.n_layer)
    throw Error("head " + std::string(text) + ": layer " + std::to_string(id.layer) +
                " does not exist (the model has layers 0-" + std::to_string(config.n_layer - 1) + ")");
  if (id.head < 0 || id.head >= config.n_head)
    throw Error("head " + std::string(text) + ": head " + std::to_string(id.head) +
                " does not exist (the model has heads 0-" + std::to_string(config.n_head - 1) + " per layer)");
  return id;
}

TargetGrid head_targets(const engine::ModelConfig& config, engine::Site site, const std::string& position) {
  require_per_layer(site);
  if (!has_heads(site))
    throw Error("site '" + short_site_name(site) + "' has no head dimension, so it cannot be patched per head",
                "per-head sites: z, q, k, v, pattern, attn_scores, result");
  TargetGrid grid{.layout = numbered_grid("layer", config.n_layer, "head", config.n_head), .cells = {}};
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (int head = 0; head < config.n_head; ++head) grid.cells.push_back({{{site, layer}, head, position}});
  return grid;
}

TargetGrid layer_targets(const engine::ModelConfig& config, std::span<const engine::Site> sites,
                         const std::string& position) {
  TargetGrid grid{.layout = numbered_grid("layer", config.n_layer, "site", static_cast<int>(sites.size())), .cells = {}};
  for (size_t i = 0; i < sites.size(); ++i) {
    require_per_layer(sites[i]);
    grid.layout.column_labels[i] = short_site_name(sites[i]);
  }
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (engine::Site site : sites) grid.cells.push_back({{{site, layer}, std::nullopt, position}});
  return grid;
}

TargetGrid position_targets(const engine::ModelConfig& config, engine::Site site, const data::TaskSchema& schema) {
  require_per_layer(site);
  if (schema.positions.empty()) throw Error("the " + schema.task + " task has no named positions");
  TargetGrid grid{.layout = numbered_grid("layer", config.n_layer, "position", static_cast<int>(schema.positions.size())),
                  .cells = {}};
  grid.layout.column_labels = schema.positions;
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (const std::string& label : schema.positions) grid.cells.push_back({{{site, layer}, std::nullopt, label}});
  return grid;
}

std::string describe(const Target& target) {
  std::string text = engine::hook_name(target.hook);
  if (target.head) text += " head " + std::to_string(*target.head);
  if (!target.position.empty()) text += " @" + target.position;
  return text;
}

}  // namespace cscrub::discover
