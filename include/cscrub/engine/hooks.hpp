// Hook points: every activation of the forward pass, named as TransformerLens names them outside
// (`blocks.9.attn.hook_z`) and as a typed HookPoint inside. One table (sites()) drives parsing,
// printing, shapes and help text.
#pragma once
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/engine/config.hpp"

namespace cscrub::engine {

enum class Site : uint8_t {
  embed,               // hook_embed                         [batch, pos, d_model]
  pos_embed,           // hook_pos_embed                     [batch, pos, d_model]
  resid_pre,           // blocks.L.hook_resid_pre            [batch, pos, d_model]
  q_input,             // blocks.L.hook_q_input              [batch, pos, head, d_model]
  k_input,             // blocks.L.hook_k_input              [batch, pos, head, d_model]
  v_input,             // blocks.L.hook_v_input              [batch, pos, head, d_model]
  ln1_scale,           // blocks.L.ln1.hook_scale            [batch, pos, 1]
  ln1_normalized,      // blocks.L.ln1.hook_normalized       [batch, pos, d_model] (after weight, bias)
  attn_q,              // blocks.L.attn.hook_q               [batch, pos, head, d_head]
  attn_k,              // blocks.L.attn.hook_k               [batch, pos, head, d_head]
  attn_v,              // blocks.L.attn.hook_v               [batch, pos, head, d_head]
  attn_rot_q,          // blocks.L.attn.hook_rot_q           [batch, pos, head, d_head]  (rotary models)
  attn_rot_k,          // blocks.L.attn.hook_rot_k           [batch, pos, head, d_head]  (rotary models)
  attn_scores,         // blocks.L.attn.hook_attn_scores     [batch, head, query_pos, key_pos]
  attn_pattern,        // blocks.L.attn.hook_pattern         [batch, head, query_pos, key_pos]
  attn_z,              // blocks.L.attn.hook_z               [batch, pos, head, d_head]
  attn_result,         // blocks.L.attn.hook_result          [batch, pos, head, d_model]
  attn_out,            // blocks.L.hook_attn_out             [batch, pos, d_model]
  resid_mid,           // blocks.L.hook_resid_mid            [batch, pos, d_model]
  mlp_in,              // blocks.L.hook_mlp_in               [batch, pos, d_model]
  ln2_scale,           // blocks.L.ln2.hook_scale            [batch, pos, 1]
  ln2_normalized,      // blocks.L.ln2.hook_normalized       [batch, pos, d_model]
  mlp_pre,             // blocks.L.mlp.hook_pre              [batch, pos, d_mlp]
  mlp_post,            // blocks.L.mlp.hook_post             [batch, pos, d_mlp]
  mlp_out,             // blocks.L.hook_mlp_out              [batch, pos, d_model]
  resid_post,          // blocks.L.hook_resid_post           [batch, pos, d_model]
  ln_final_scale,      // ln_final.hook_scale                [batch, pos, 1]
  ln_final_normalized, // ln_final.hook_normalized           [batch, pos, d_model]
};
inline constexpr int kSiteCount = 28;

// How an activation's trailing dimensions are laid out (the leading one is always batch).
enum class Layout : uint8_t {
  pos_model,       // [batch, pos, d_model]
  pos_scalar,      // [batch, pos, 1]
  pos_head_dhead,  // [batch, pos, head, d_head]
  head_pos_pos,    // [batch, head, query_pos, key_pos]
  pos_head_model,  // [batch, pos, head, d_model]
  pos_mlp,         // [batch, pos, d_mlp]
};

struct SiteInfo {
  Site site;
  std::string_view name;  // TransformerLens suffix, e.g. "attn.hook_z"; full name adds "blocks.L." if per_layer
  bool per_layer;
  Layout layout;
  std::string_view help;
};

// Every site, in forward order.
std::span<const SiteInfo> sites();
const SiteInfo& site_info(Site site);
// Whether a model has the site: hook_pos_embed needs learned positions, hook_rot_q/k rotary ones, mlp.hook_pre/post
// MLP hidden units (an attention-only model has none). (In a parallel
// block hook_resid_mid is resid_pre + attn_out, which the MLP does not read.)
bool has_site(const ModelConfig& config, Site site);

struct HookPoint {
  Site site = Site::embed;
  int layer = -1;  // -1 for sites outside the blocks
  friend bool operator==(const HookPoint&, const HookPoint&) = default;
  friend auto operator<=>(const HookPoint&, const HookPoint&) = default;
};

// "blocks.9.attn.hook_z" <-> {attn_z, 9}. Parsing checks the layer and the site against the model and throws
// cscrub::Error naming the bad part and the closest valid name.
std::string hook_name(HookPoint hook);
HookPoint parse_hook_name(std::string_view name, const ModelConfig& config);
// Every hook point the model has (has_site), in the order a forward pass reaches them.
std::vector<HookPoint> all_hook_points(const ModelConfig& config);

// The activation's shape for `batch` sequences of `positions` tokens (rank 3 or 4).
std::array<int64_t, 4> activation_shape(Site site, const ModelConfig& config, int batch, int positions, int* rank);

// An activation handed to an Interventions object: contiguous row-major float data of `shape`.
struct Activation {
  HookPoint hook;
  std::span<float> data;
  std::array<int64_t, 4> shape{};
  int rank = 0;
};

// Reads and overwrites activations during a forward pass. The engine asks wants() once per hook point
// per forward; only then does it materialise the activation (hook_result, for one, is computed only if
// wanted) and call visit(), which may modify act.data in place: the forward continues from the modified
// values. Passing no Interventions costs nothing.
class Interventions {
 public:
  virtual ~Interventions() = default;
  virtual bool wants(HookPoint hook) const = 0;
  virtual void visit(const Activation& activation) = 0;
};

}  // namespace cscrub::engine
