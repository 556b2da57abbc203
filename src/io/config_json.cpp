// config.json of a Hugging Face GPT-2 checkpoint -> engine::ModelConfig, refusing variants whose
// computation cscrub does not implement (other activations, rescaled attention).
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "json_unique_keys.hpp"

namespace cscrub::io {

namespace {

using nlohmann::json;

class ConfigReader {
 public:
  ConfigReader(std::filesystem::path path, json root) : path_(std::move(path)), root_(std::move(root)) {}

  [[noreturn]] void fail(const std::string& message, const std::string& hint = {}) const {
    throw Error(path_.string() + ": " + message, hint);
  }

  bool has(const char* key) const { return root_.contains(key) && !root_.at(key).is_null(); }

  int positive_int(const char* key) const { return bounded_int(key, 1, "a positive integer"); }
  int non_negative_int(const char* key) const { return bounded_int(key, 0, "a non-negative integer"); }

  // A boolean option whose only supported value is `expected` (absent means the Hugging Face default).
  void require_bool(const char* key, bool expected, const char* why) const {
    if (!has(key)) return;
    const json& value = root_.at(key);
    if (!value.is_boolean()) fail("field '" + std::string(key) + "' must be true or false, not " + json_excerpt(value));
    if (value.get<bool>() != expected) fail("field '" + std::string(key) + "' is " + json_excerpt(value) + ": " + why);
  }

  const json& at(const char* key) const { return root_.at(key); }

 private:
  int bounded_int(const char* key, int64_t least, const char* what) const {
    if (!has(key)) fail("missing field '" + std::string(key) + "'");
    const json& value = root_.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() < least || value.get<int64_t>() > (1 << 30))
      fail("field '" + std::string(key) + "' must be " + what + ", not " + json_excerpt(value));
    return static_cast<int>(value.get<int64_t>());
  }

  std::filesystem::path path_;
  json root_;
};

}  // namespace

engine::ModelConfig read_config(const std::filesystem::path& config_json) {
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw Error(config_json.string() + ": cannot open", "a model directory needs config.json");
  std::error_code ignored;
  if (std::filesystem::is_directory(config_json, ignored)) throw Error(config_json.string() + ": is a directory, not a file");
  std::stringstream text;
  text << in.rdbuf();
  json root;
  std::string duplicate_key;
  try {
    root = parse_json_noting_duplicate_keys(text.str(), /*allow_exceptions=*/true, duplicate_key);
  } catch (const json::exception& error) {  // parse_error, and out_of_range for numbers like 1e400
    throw Error(config_json.string() + ": not valid JSON (" + error.what() + ")");
  }
  if (!root.is_object()) throw Error(config_json.string() + ": not a JSON object");
  if (!duplicate_key.empty())
    throw Error(config_json.string() + ": key '" + duplicate_key + "' appears twice in one object: which is meant?");
  const ConfigReader reader(config_json, std::move(root));

  engine::ModelConfig config;
  config.n_layer = reader.positive_int("n_layer");
  config.n_head = reader.positive_int("n_head");
  // Hypotheses are checked against a graph linking every head and MLP to every later one (quadratic in
  // their number), and builtin:full lists them all: far beyond GPT-2 XL (48 x (25 + 1)), a config is corrupt.
  constexpr int64_t kMaxComponents = 2048;
  if (static_cast<int64_t>(config.n_layer) * (config.n_head + 1) > kMaxComponents)
    reader.fail("n_layer " + std::to_string(config.n_layer) + " x n_head " + std::to_string(config.n_head) +
                ": more heads and MLPs than cscrub handles (at most " + std::to_string(kMaxComponents) +
                "; GPT-2 XL has 1248)");
  config.d_model = reader.positive_int("n_embd");
  // n_positions sizes wpe in Hugging Face's GPT-2; old configs only have n_ctx.
  config.n_ctx = reader.positive_int(reader.has("n_positions") ? "n_positions" : "n_ctx");
  config.vocab_size = reader.positive_int("vocab_size");
  if (reader.has("n_inner")) {
    // 0 is an attention-only model: Hugging Face builds [n_embd, 0] MLP matrices, so each MLP adds only
    // its c_proj bias.
    config.d_mlp = reader.non_negative_int("n_inner");
  } else if (config.d_model > (1 << 28)) {  // the default MLP width 4 * n_embd must stay in range too
    reader.fail("field 'n_embd' is " + std::to_string(config.d_model) + ": too large for the default n_inner = 4 * n_embd");
  } else {
    config.d_mlp = 4 * config.d_model;
  }
  if (config.d_model % config.n_head != 0)
    reader.fail("n_embd " + std::to_string(config.d_model) + " is not divisible by n_head " +
                std::to_string(config.n_head));

  if (reader.has("layer_norm_epsilon")) {
    const json& epsilon = reader.at("layer_norm_epsilon");
    // The engine computes in float: the value must be a positive float (1e300 or 1e-50 would become inf or 0).
    const double value = epsilon.is_number() ? epsilon.get<double>() : 0.0;
    if (!(value > 0.0) || value > std::numeric_limits<float>::max() || static_cast<float>(value) == 0.0f)
      reader.fail("field 'layer_norm_epsilon' must be a positive number within float's range, not " + json_excerpt(epsilon));
    config.layer_norm_epsilon = static_cast<float>(value);
  }

  if (reader.has("activation_function")) {  // Hugging Face's default is gelu_new
    const json& activation = reader.at("activation_function");
    const bool tanh_gelu = activation == "gelu_new" || activation == "gelu_pytorch_tanh";
    if (!tanh_gelu)
      reader.fail("activation_function " + json_excerpt(activation) + " is not supported",
                  "cscrub implements GPT-2's GELU (tanh approximation): gelu_new or gelu_pytorch_tanh");
  }
  reader.require_bool("scale_attn_weights", true, "cscrub always scales attention scores by 1/sqrt(d_head)");
  reader.require_bool("scale_attn_by_inverse_layer_idx", false, "cscrub does not rescale attention per layer");
  return config;
}

}  // namespace cscrub::io
