// config.json of a Hugging Face checkpoint -> engine::ModelConfig, for the families cscrub computes (model_type
// gpt2, gpt_neo, gpt_neox), with Hugging Face's keys and defaults for each; refusing, by name, every key whose
// computation cscrub does not implement (another model_type, other activations, ALiBi, grouped-query attention,
// scaled rotary embeddings, ...).
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_depth.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/json_unique_keys.hpp"

namespace cscrub::io {

namespace {

using nlohmann::json;
using engine::Family;

class ConfigReader {
 public:
  ConfigReader(std::filesystem::path path, json root) : path_(std::move(path)), root_(std::move(root)) {}

  [[noreturn]] void fail(const std::string& message, const std::string& hint = {}) const {
    throw Error(path_.string() + ": " + message, hint);
  }

  bool has(const char* key) const { return root_.contains(key) && !root_.at(key).is_null(); }
  const json& at(const char* key) const { return root_.at(key); }

  int positive_int(const char* key) const {
    if (!has(key)) fail("missing field '" + std::string(key) + "'");
    return positive_int_value(key, root_.at(key));
  }
  int positive_int_or(const char* key, int fallback) const { return has(key) ? positive_int(key) : fallback; }

  // The first of `keys` present (Hugging Face reads them as one attribute); the others, if present, must agree.
  int positive_int_of(std::initializer_list<const char*> keys) const {
    const char* found = nullptr;
    int value = 0;
    for (const char* key : keys) {
      if (!has(key)) continue;
      const int this_value = positive_int(key);
      if (found == nullptr) {
        found = key;
        value = this_value;
      } else if (this_value != value) {
        fail("fields '" + std::string(found) + "' (" + std::to_string(value) + ") and '" + key + "' (" +
             std::to_string(this_value) + ") name the same setting and disagree");
      }
    }
    if (found == nullptr) fail("missing field '" + std::string(*keys.begin()) + "'");
    return value;
  }

  bool boolean_or(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    const json& value = root_.at(key);
    if (!value.is_boolean()) fail("field '" + std::string(key) + "' must be true or false, not " + json_excerpt(value));
    return value.get<bool>();
  }

  // A positive float (the engine computes in float: 1e300 or 1e-50 would become inf or 0).
  float epsilon_or(const char* key, float fallback) const {
    if (!has(key)) return fallback;
    const json& epsilon = root_.at(key);
    const double value = epsilon.is_number() ? epsilon.get<double>() : 0.0;
    if (!(value > 0.0) || value > std::numeric_limits<float>::max() || static_cast<float>(value) == 0.0f)
      fail("field '" + std::string(key) + "' must be a positive number within float's range, not " + json_excerpt(epsilon));
    return static_cast<float>(value);
  }

  // Hugging Face's ACT2FN names for the two GELUs cscrub computes.
  engine::ActivationFunction activation_or(const char* key, const char* fallback) const {
    const json activation = has(key) ? root_.at(key) : json(fallback);
    for (const char* name : {"gelu_new", "gelu_pytorch_tanh", "gelu_fast", "gelu_accurate"})
      if (activation == name) return engine::ActivationFunction::gelu_tanh;
    for (const char* name : {"gelu", "gelu_python"})
      if (activation == name) return engine::ActivationFunction::gelu_erf;
    fail(std::string(key) + " " + json_excerpt(activation) + " is not supported",
         "cscrub implements GELU exactly (gelu, gelu_python) and in its tanh approximation (gelu_new, "
         "gelu_pytorch_tanh, gelu_fast, gelu_accurate)");
  }

  // A number in [0, 1] (GPT-NeoX's rotary fraction).
  double fraction(const char* key, const json& value) const {
    if (!value.is_number() || !(value.get<double>() >= 0.0) || value.get<double>() > 1.0)
      fail("field '" + std::string(key) + "' must be a number from 0 to 1, not " + json_excerpt(value));
    return value.get<double>();
  }

  double positive_number(const char* key, const json& value) const {
    if (!value.is_number() || !(value.get<double>() > 0.0) || !std::isfinite(value.get<double>()))
      fail("field '" + std::string(key) + "' must be a positive number, not " + json_excerpt(value));
    return value.get<double>();
  }

  int positive_int_value(const std::string& key, const json& value) const {
    if (!value.is_number_integer() || value.get<int64_t>() <= 0 || value.get<int64_t>() > (1 << 30))
      fail("field '" + key + "' must be a positive integer, not " + json_excerpt(value));
    return static_cast<int>(value.get<int64_t>());
  }

  int non_negative_int(const char* key) const {
    if (!has(key)) fail("missing field '" + std::string(key) + "'");
    const json& value = root_.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() < 0 || value.get<int64_t>() > (1 << 30))
      fail("field '" + std::string(key) + "' must be a non-negative integer, not " + json_excerpt(value));
    return static_cast<int>(value.get<int64_t>());
  }

 private:
  std::filesystem::path path_;
  json root_;
};

Family model_family(const ConfigReader& reader) {
  if (!reader.has("model_type")) return Family::gpt2;  // GPT-2's oldest configs have none
  const json& type = reader.at("model_type");
  for (Family family : {Family::gpt2, Family::gpt_neo, Family::gpt_neox})
    if (type == engine::to_string(family)) return family;
  reader.fail("model_type " + json_excerpt(type) + " is not supported",
              "cscrub computes GPT-2 (gpt2, incl. Stanford CRFM's), GPT-Neo (gpt_neo) and GPT-NeoX/Pythia (gpt_neox)");
}

// Keys of other architectures that change the computation: a config carrying them is not what cscrub would run.
void refuse_other_architectures(const ConfigReader& reader, const engine::ModelConfig& config) {
  if (reader.has("alibi") && reader.at("alibi") != false)
    reader.fail("field 'alibi' is " + json_excerpt(reader.at("alibi")) + ": ALiBi attention biases are not supported");
  if (reader.has("position_embedding_type")) {
    const json& type = reader.at("position_embedding_type");
    const char* expected = config.learned_positions ? "absolute" : "rotary";
    if (type != expected)
      reader.fail("field 'position_embedding_type' is " + json_excerpt(type) + ": this model_type's positions are " + expected);
  }
  for (const char* key : {"num_key_value_heads", "n_head_kv", "num_kv_heads"}) {
    if (!reader.has(key)) continue;
    if (reader.positive_int(key) != config.n_head)
      reader.fail("field '" + std::string(key) + "' is " + std::to_string(reader.positive_int(key)) + " for " +
                  std::to_string(config.n_head) + " heads: grouped-query attention is not supported");
  }
  if (reader.boolean_or("multi_query", false))
    reader.fail("field 'multi_query' is true: multi-query attention is not supported");
  if (reader.boolean_or("add_cross_attention", false))
    reader.fail("field 'add_cross_attention' is true: cross-attention (an encoder-decoder model) is not supported");
}

// GPT-Neo's and GPT-NeoX's intermediate_size. Hugging Face would build 0 (an attention-only model) too, but
// cscrub checks that against the reference for GPT-2 only: it refuses rather than run it unverified.
int intermediate_size(const ConfigReader& reader) {
  if (reader.has("intermediate_size") && reader.at("intermediate_size") == 0)
    reader.fail("field 'intermediate_size' is 0: attention-only models are supported as GPT-2 configs (n_inner 0) only");
  return reader.positive_int("intermediate_size");
}

// n_inner / intermediate_size: absent or null means 4 * hidden size. 0 (allow_zero: GPT-2's n_inner) is an
// attention-only model: Hugging Face builds [n_embd, 0] MLP matrices, so each MLP adds only its c_proj bias.
int mlp_width(const ConfigReader& reader, const char* key, const char* hidden_key, int d_model, bool allow_zero) {
  if (reader.has(key)) return allow_zero ? reader.non_negative_int(key) : intermediate_size(reader);
  if (d_model > (1 << 28))  // the default 4 * d_model must stay in range too
    reader.fail("field '" + std::string(hidden_key) + "' is " + std::to_string(d_model) + ": too large for the default " +
                key + " = 4 * " + hidden_key);
  return 4 * d_model;
}

void read_gpt2(const ConfigReader& reader, engine::ModelConfig& config) {
  config.n_layer = reader.positive_int("n_layer");
  config.n_head = reader.positive_int("n_head");
  config.d_model = reader.positive_int("n_embd");
  // n_positions sizes wpe in Hugging Face's GPT-2; old configs only have n_ctx.
  config.n_ctx = reader.positive_int(reader.has("n_positions") ? "n_positions" : "n_ctx");
  config.vocab_size = reader.positive_int("vocab_size");
  config.d_mlp = mlp_width(reader, "n_inner", "n_embd", config.d_model, true);
  config.layer_norm_epsilon = reader.epsilon_or("layer_norm_epsilon", 1e-5f);
  config.activation = reader.activation_or("activation_function", "gelu_new");
  config.scale_by_sqrt_d_head = reader.boolean_or("scale_attn_weights", true);
  config.scale_by_inverse_layer = reader.boolean_or("scale_attn_by_inverse_layer_idx", false);
  // reorder_and_upcast_attn (Stanford CRFM) computes q·k in float32 with the scale folded into one baddbmm, and
  // the softmax in float32: cscrub computes everything in float32, so it changes nothing here (either value).
  (void)reader.boolean_or("reorder_and_upcast_attn", false);
  config.tied_unembedding = reader.boolean_or("tie_word_embeddings", true);
}

// attention_types, e.g. [[["global", "local"], 6]]: the list repeated 6 times, one type per layer.
std::vector<std::string> expand_attention_types(const ConfigReader& reader) {
  const json types = reader.has("attention_types") ? reader.at("attention_types")
                                                   : json::parse(R"([[["global", "local"], 12]])");
  auto bad = [&] {
    reader.fail("field 'attention_types' must be a list of [[types...], repeats], like [[[\"global\", \"local\"], 6]], not " +
                json_excerpt(types));
  };
  if (!types.is_array()) bad();
  std::vector<std::string> layers;
  for (const json& item : types) {
    if (!item.is_array() || item.size() != 2 || !item[0].is_array() || !item[1].is_number_integer() ||
        item[1].get<int64_t>() < 0 || item[1].get<int64_t>() > (1 << 20))
      bad();
    for (int64_t repeat = 0; repeat < item[1].get<int64_t>(); ++repeat)
      for (const json& type : item[0]) {
        if (type != "global" && type != "local")
          reader.fail("attention type " + json_excerpt(type) + " in 'attention_types' is neither \"global\" nor \"local\"");
        layers.push_back(type.get<std::string>());
        if (layers.size() > (1u << 20))
          reader.fail("field 'attention_types' expands to more than 2^20 layers (the limit)");
      }
  }
  return layers;
}

void read_gpt_neo(const ConfigReader& reader, engine::ModelConfig& config) {
  config.n_layer = reader.positive_int_of({"num_layers", "num_hidden_layers"});
  config.n_head = reader.positive_int_of({"num_heads", "num_attention_heads"});
  config.d_model = reader.positive_int("hidden_size");
  config.n_ctx = reader.positive_int("max_position_embeddings");
  config.vocab_size = reader.positive_int("vocab_size");
  config.d_mlp = mlp_width(reader, "intermediate_size", "hidden_size", config.d_model, false);
  config.layer_norm_epsilon = reader.epsilon_or("layer_norm_epsilon", 1e-5f);
  config.activation = reader.activation_or("activation_function", "gelu_new");
  config.scale_by_sqrt_d_head = false;  // GPT-Neo's scores are q·k, unscaled
  config.qkv_bias = false;              // q_proj, k_proj, v_proj have no bias; out_proj has one
  config.tied_unembedding = reader.boolean_or("tie_word_embeddings", true);

  const std::vector<std::string> types = expand_attention_types(reader);
  if (static_cast<int64_t>(types.size()) != config.n_layer)
    reader.fail("'attention_types' expands to " + std::to_string(types.size()) + " layers, but num_layers is " +
                std::to_string(config.n_layer));
  if (reader.has("attention_layers") && reader.at("attention_layers") != json(types))
    reader.fail("field 'attention_layers' disagrees with what 'attention_types' expands to");
  const int window = reader.positive_int_or("window_size", 256);
  config.key_window.resize(static_cast<size_t>(config.n_layer));
  for (size_t layer = 0; layer < types.size(); ++layer) config.key_window[layer] = types[layer] == "local" ? window : 0;
}

// A setting GPT-NeoX's configs spell in several ways over transformers' versions (rotary_pct and
// partial_rotary_factor, rotary_emb_base and rope_theta, or inside rope_parameters): every spelling present must agree.
double rotary_setting(const ConfigReader& reader, std::initializer_list<const char*> keys, const char* nested, double fallback,
                      bool is_fraction) {
  std::vector<std::pair<std::string, json>> spellings;
  for (const char* key : keys)
    if (reader.has(key)) spellings.emplace_back(key, reader.at(key));
  if (reader.has("rope_parameters") && reader.at("rope_parameters").is_object() &&
      reader.at("rope_parameters").contains(nested) && !reader.at("rope_parameters").at(nested).is_null())
    spellings.emplace_back(std::string("rope_parameters.") + nested, reader.at("rope_parameters").at(nested));
  if (spellings.empty()) return fallback;
  auto value_of = [&](const std::pair<std::string, json>& spelling) {
    return is_fraction ? reader.fraction(spelling.first.c_str(), spelling.second)
                       : reader.positive_number(spelling.first.c_str(), spelling.second);
  };
  const double value = value_of(spellings.front());
  for (const auto& spelling : spellings)
    if (value_of(spelling) != value)
      reader.fail("fields '" + spellings.front().first + "' (" + json_excerpt(spellings.front().second) + ") and '" +
                  spelling.first + "' (" + json_excerpt(spelling.second) + ") name the same setting and disagree");
  return value;
}

// rope_scaling / rope_parameters other than the default rotary embedding change the frequencies.
void refuse_scaled_rotary(const ConfigReader& reader) {
  for (const char* key : {"rope_scaling", "rope_parameters"}) {
    if (!reader.has(key)) continue;
    const json& rope = reader.at(key);
    if (!rope.is_object()) reader.fail("field '" + std::string(key) + "' must be an object, not " + json_excerpt(rope));
    for (const char* type_key : {"rope_type", "type"})
      if (rope.contains(type_key) && rope.at(type_key) != "default")
        reader.fail("field '" + std::string(key) + "' has " + type_key + " " + json_excerpt(rope.at(type_key)) +
                    ": scaled rotary embeddings are not supported (only \"default\")");
  }
}

void read_gpt_neox(const ConfigReader& reader, engine::ModelConfig& config) {
  config.n_layer = reader.positive_int("num_hidden_layers");
  config.n_head = reader.positive_int("num_attention_heads");
  config.d_model = reader.positive_int("hidden_size");
  config.n_ctx = reader.positive_int_or("max_position_embeddings", 2048);
  config.vocab_size = reader.positive_int("vocab_size");
  config.d_mlp = intermediate_size(reader);
  config.layer_norm_epsilon = reader.epsilon_or("layer_norm_eps", 1e-5f);
  config.activation = reader.activation_or("hidden_act", "gelu");
  config.learned_positions = false;
  config.parallel_attn_mlp = reader.boolean_or("use_parallel_residual", true);
  config.qkv_bias = config.attn_out_bias = reader.boolean_or("attention_bias", true);
  config.tied_unembedding = reader.boolean_or("tie_word_embeddings", false);

  refuse_scaled_rotary(reader);
  if (config.d_model % config.n_head != 0) return;  // reported with the other families' shape checks
  const double fraction = rotary_setting(reader, {"rotary_pct", "partial_rotary_factor"}, "partial_rotary_factor", 0.25, true);
  config.rotary_base = rotary_setting(reader, {"rotary_emb_base", "rope_theta"}, "rope_theta", 10000.0, false);
  // Python's int(head_size * rotary_pct): truncated, not rounded.
  config.rotary_dims = static_cast<int>(config.d_head() * fraction);
  if (config.rotary_dims % 2 != 0)
    reader.fail("rotary_pct " + std::to_string(fraction) + " of d_head " + std::to_string(config.d_head()) + " gives " +
                std::to_string(config.rotary_dims) + " rotary dimensions, an odd number: they rotate in pairs",
                "Hugging Face's GPT-NeoX fails on this config too");
}

}  // namespace

engine::ModelConfig read_config(const std::filesystem::path& config_json) {
  std::error_code ignored;
  if (!std::filesystem::exists(std::filesystem::symlink_status(config_json, ignored)))
    throw Error(config_json.string() + ": cannot open: no such file", "a model directory needs config.json");
  const std::string text = read_input_file(config_json, input_limits::model_config);
  refuse_deep_json(text, config_json.string());
  json root;
  std::string duplicate_key;
  try {
    root = parse_json_noting_duplicate_keys(text, /*allow_exceptions=*/true, duplicate_key);
  } catch (const json::exception& error) {  // parse_error, and out_of_range for numbers like 1e400
    throw Error(config_json.string() + ": not valid JSON (" + error.what() + ")");
  }
  if (!root.is_object()) throw Error(config_json.string() + ": not a JSON object");
  if (!duplicate_key.empty())
    throw Error(config_json.string() + ": key '" + duplicate_key + "' appears twice in one object: which is meant?");
  const ConfigReader reader(config_json, std::move(root));

  engine::ModelConfig config;
  config.family = model_family(reader);
  switch (config.family) {
    case Family::gpt2: read_gpt2(reader, config); break;
    case Family::gpt_neo: read_gpt_neo(reader, config); break;
    case Family::gpt_neox: read_gpt_neox(reader, config); break;
  }
  const bool neox = config.family == Family::gpt_neox;
  const char* layers_key = neox ? "num_hidden_layers" : config.family == Family::gpt_neo ? "num_layers" : "n_layer";
  const char* heads_key = neox ? "num_attention_heads" : config.family == Family::gpt_neo ? "num_heads" : "n_head";
  const char* width_key = config.family == Family::gpt2 ? "n_embd" : "hidden_size";
  // Hypotheses are checked against a graph linking every head and MLP to every later one (quadratic in
  // their number), and builtin:full lists them all: far beyond GPT-2 XL (48 x (25 + 1)), a config is corrupt.
  constexpr int64_t kMaxComponents = 2048;
  if (static_cast<int64_t>(config.n_layer) * (config.n_head + 1) > kMaxComponents)
    reader.fail(std::string(layers_key) + " " + std::to_string(config.n_layer) + " x " + heads_key + " " +
                std::to_string(config.n_head) + ": more heads and MLPs than cscrub handles (at most " +
                std::to_string(kMaxComponents) + "; GPT-2 XL has 1248)");
  if (config.d_model % config.n_head != 0)
    reader.fail(std::string(width_key) + " " + std::to_string(config.d_model) + " is not divisible by " + heads_key + " " +
                std::to_string(config.n_head));
  refuse_other_architectures(reader, config);
  return config;
}

}  // namespace cscrub::io
