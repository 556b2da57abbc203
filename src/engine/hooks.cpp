#include "cscrub/engine/hooks.hpp"

#include <algorithm>
#include <charconv>
#include <string>
#include <vector>

#include "cscrub/error.hpp"
#include "cscrub/suggest.hpp"

namespace cscrub::engine {
namespace {

constexpr std::array<SiteInfo, kSiteCount> kSites{{
    {Site::embed, "hook_embed", false, Layout::pos_model, "token embeddings"},
    {Site::pos_embed, "hook_pos_embed", false, Layout::pos_model, "positional embeddings"},
    {Site::resid_pre, "hook_resid_pre", true, Layout::pos_model, "residual stream entering the block"},
    {Site::q_input, "hook_q_input", true, Layout::pos_head_model, "each head's own copy of the residual stream its queries read (before ln_1)"},
    {Site::k_input, "hook_k_input", true, Layout::pos_head_model, "each head's own copy of the residual stream its keys read (before ln_1)"},
    {Site::v_input, "hook_v_input", true, Layout::pos_head_model, "each head's own copy of the residual stream its values read (before ln_1)"},
    {Site::ln1_scale, "ln1.hook_scale", true, Layout::pos_scalar, "ln_1 scale sqrt(var + eps)"},
    {Site::ln1_normalized, "ln1.hook_normalized", true, Layout::pos_model, "ln_1 output (x - mean) / scale * w + b"},
    {Site::attn_q, "attn.hook_q", true, Layout::pos_head_dhead, "queries"},
    {Site::attn_k, "attn.hook_k", true, Layout::pos_head_dhead, "keys"},
    {Site::attn_v, "attn.hook_v", true, Layout::pos_head_dhead, "values"},
    {Site::attn_rot_q, "attn.hook_rot_q", true, Layout::pos_head_dhead, "queries after the rotary embedding"},
    {Site::attn_rot_k, "attn.hook_rot_k", true, Layout::pos_head_dhead, "keys after the rotary embedding"},
    {Site::attn_scores, "attn.hook_attn_scores", true, Layout::head_pos_pos, "scaled attention scores (masked: -inf)"},
    {Site::attn_pattern, "attn.hook_pattern", true, Layout::head_pos_pos, "attention probabilities"},
    {Site::attn_z, "attn.hook_z", true, Layout::pos_head_dhead, "attention-weighted values, per head"},
    {Site::attn_result, "attn.hook_result", true, Layout::pos_head_model, "each head's output z_h W_O[h] (no bias)"},
    {Site::attn_out, "hook_attn_out", true, Layout::pos_model, "attention layer output (with bias)"},
    {Site::resid_mid, "hook_resid_mid", true, Layout::pos_model, "residual stream between attention and MLP"},
    {Site::mlp_in, "hook_mlp_in", true, Layout::pos_model, "the MLP's own copy of the residual stream (before ln_2)"},
    {Site::ln2_scale, "ln2.hook_scale", true, Layout::pos_scalar, "ln_2 scale sqrt(var + eps)"},
    {Site::ln2_normalized, "ln2.hook_normalized", true, Layout::pos_model, "ln_2 output (x - mean) / scale * w + b"},
    {Site::mlp_pre, "mlp.hook_pre", true, Layout::pos_mlp, "MLP pre-activation"},
    {Site::mlp_post, "mlp.hook_post", true, Layout::pos_mlp, "MLP post-GELU activation"},
    {Site::mlp_out, "hook_mlp_out", true, Layout::pos_model, "MLP output (with bias)"},
    {Site::resid_post, "hook_resid_post", true, Layout::pos_model, "residual stream leaving the block"},
    {Site::ln_final_scale, "ln_final.hook_scale", false, Layout::pos_scalar, "ln_f scale sqrt(var + eps)"},
    {Site::ln_final_normalized, "ln_final.hook_normalized", false, Layout::pos_model, "ln_f output (x - mean) / scale * w + b"},
}};

constexpr bool in_enum_order() {
  for (size_t i = 0; i < kSites.size(); ++i)
    if (static_cast<size_t>(kSites[i].site) != i) return false;
  return true;
}
static_assert(in_enum_order(), "site_info() indexes the table by the enum");

std::vector<std::string> example_names(const ModelConfig& config) {
  std::vector<std::string> names;
  int last_layer = config.n_layer > 0 ? config.n_layer - 1 : 0;
  for (const auto& info : kSites) {
    if (!has_site(config, info.site)) continue;
    if (info.per_layer) {
      names.push_back("blocks.0." + std::string(info.name));
      names.push_back("blocks." + std::to_string(last_layer) + "." + std::string(info.name));
    } else {
      names.emplace_back(info.name);
    }
  }
  return names;
}

}  // namespace

std::span<const SiteInfo> sites() { return kSites; }

bool has_site(const ModelConfig& config, Site site) {
  switch (site) {
    case Site::pos_embed: return config.learned_positions;
    case Site::attn_rot_q:
    case Site::attn_rot_k: return config.rotary_dims > 0;
    case Site::mlp_pre:
    case Site::mlp_post: return !config.attention_only();
    default: return true;
  }
}

const SiteInfo& site_info(Site site) { return kSites[static_cast<size_t>(site)]; }

std::string hook_name(HookPoint hook) {
  const SiteInfo& info = site_info(hook.site);
  if (!info.per_layer) return std::string(info.name);
  return "blocks." + std::to_string(hook.layer) + "." + std::string(info.name);
}

std::vector<HookPoint> all_hook_points(const ModelConfig& config) {
  // sites() is in forward order: those before the blocks, the blocks' (layer by layer), those after.
  const auto all = sites();
  const auto first_in_block = std::find_if(all.begin(), all.end(), [](const SiteInfo& info) { return info.per_layer; });
  const auto after_blocks = std::find_if(first_in_block, all.end(), [](const SiteInfo& info) { return !info.per_layer; });
  std::vector<HookPoint> points;
  auto add = [&](const SiteInfo& info, int layer) {
    if (has_site(config, info.site)) points.push_back({info.site, layer});
  };
  for (auto site = all.begin(); site != first_in_block; ++site) add(*site, -1);
  for (int layer = 0; layer < config.n_layer; ++layer)
    for (auto site = first_in_block; site != after_blocks; ++site) add(*site, layer);
  for (auto site = after_blocks; site != all.end(); ++site) add(*site, -1);
  return points;
}

HookPoint parse_hook_name(std::string_view name, const ModelConfig& config) {
  auto fail = [&](const std::string& problem) -> HookPoint {
    throw Error("unknown hook point '" + std::string(name) + "': " + problem +
                did_you_mean(name, example_names(config)));
  };
  auto absent = [&](Site site) {
    switch (site) {
      case Site::pos_embed: return fail("this model has no position embedding (its positions are rotary)");
      case Site::mlp_pre:
      case Site::mlp_post:
        // No did-you-mean: the nearest name would be another site; the MLP's output is the one to name.
        throw Error("unknown hook point '" + std::string(name) + "': the model is attention-only (n_inner = 0): its "
                    "MLPs have no hidden units (hook_mlp_out is each MLP's output, its constant bias)");
      default: return fail("this model has no rotary embedding");
    }
  };
  for (const auto& info : kSites) {
    if (!info.per_layer && name == info.name) return has_site(config, info.site) ? HookPoint{info.site, -1} : absent(info.site);
  }
  constexpr std::string_view prefix = "blocks.";
  if (!name.starts_with(prefix)) return fail("expected 'blocks.L.<site>' or a global hook");
  std::string_view rest = name.substr(prefix.size());
  size_t dot = rest.find('.');
  if (dot == std::string_view::npos) return fail("no site after the layer");
  int layer = -1;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + dot, layer);
  if (ec != std::errc() || end != rest.data() + dot) return fail("the layer is not a number");
  if (layer < 0 || layer >= config.n_layer)
    return fail("layer " + std::to_string(layer) + " does not exist (the model has layers 0-" +
                std::to_string(config.n_layer - 1) + ")");
  std::string_view site = rest.substr(dot + 1);
  for (const auto& info : kSites) {
    if (info.per_layer && site == info.name) return has_site(config, info.site) ? HookPoint{info.site, layer} : absent(info.site);
  }
  return fail("no such site in a block");
}

std::array<int64_t, 4> activation_shape(Site site, const ModelConfig& config, int batch, int positions, int* rank) {
  switch (site_info(site).layout) {
    case Layout::pos_model: *rank = 3; return {batch, positions, config.d_model, 0};
    case Layout::pos_scalar: *rank = 3; return {batch, positions, 1, 0};
    case Layout::pos_head_dhead: *rank = 4; return {batch, positions, config.n_head, config.d_head()};
    case Layout::head_pos_pos: *rank = 4; return {batch, config.n_head, positions, positions};
    case Layout::pos_head_model: *rank = 4; return {batch, positions, config.n_head, config.d_model};
    case Layout::pos_mlp: *rank = 3; return {batch, positions, config.d_mlp, 0};
  }
  *rank = 0;
  return {};
}

}  // namespace cscrub::engine
