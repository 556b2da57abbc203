// config.json of a Hugging Face GPT-2 checkpoint -> engine::ModelConfig, refusing variants whose
// computation cscrub does not implement (other activations, rescaled attention).
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

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

  int positive_int(const char* key) const {
    if (!has(key)) fail("missing field '" + std::string(key) + "'");
    const json& value = root_.at(key);
    if (!value.is_number_integer() || value.get<int64_t>() <= 0 || value.get<int64_t>() > (1 << 30))
      fail("field '" + std::string(key) + "' must be a positive integer, not " + value.dump());
    return static_cast<int>(value.get<int64_t>());
  }

  // A boolean option whose only supported value is `expected` (absent means the Hugging Face default).
  void require_bool(const char* key, bool expected, const char* why) const {
    if (!has(key)) return;
    const json& value = root_.at(key);
    if (!value.is_boolean()) fail("field '" + std::string(key) + "' must be true or false, not " + value.dump());
    if (value.get<bool>() != expected) fail("field '" + std::string(key) + "' is " + value.dump() + ": " + why);
  }

  const json& at(const char* key) const { return root_.at(key); }

 private:
  std::filesystem::path path_;
  json root_;
};

}  // namespace

engine::ModelConfig read_config(const std::filesystem::path& config_json) {
  std::ifstream in(config_json, std::ios::binary);
  if (!in) throw Error(config_json.string() + ": cannot open", "a model directory needs config.json");
  std::stringstream text;
  text << in.rdbuf();
  json root;
  try {
    root = json::parse(text.str());
  } catch (const json::parse_error& error) {
    throw Error(config_json.string() + ": not valid JSON (" + error.what() + ")");
  }
  if (!root.is_object()) throw Error(config_json.string() + ": not a JSON object");
  const ConfigReader reader(config_json, std::move(root));

  engine::ModelConfig config;
  config.n_layer = reader.positive_int("n_layer");
  config.n_head = reader.positive_int("n_head");
  config.d_model = reader.positive_int("n_embd");
  // n_positions sizes wpe in Hugging Face's GPT-2; old configs only have n_ctx.
  config.n_ctx = reader.positive_int(reader.has("n_positions") ? "n_positions" : "n_ctx");
  config.vocab_size = reader.positive_int("vocab_size");
  config.d_mlp = reader.has("n_inner") ? reader.positive_int("n_inner") : 4 * config.d_model;
  if (config.d_model % config.n_head != 0)
    reader.fail("n_embd " + std::to_string(config.d_model) + " is not divisible by n_head " +
                std::to_string(config.n_head));

  if (reader.has("layer_norm_epsilon")) {
    const json& epsilon = reader.at("layer_norm_epsilon");
    if (!epsilon.is_number() || !(epsilon.get<double>() > 0.0))
      reader.fail("field 'layer_norm_epsilon' must be a positive number, not " + epsilon.dump());
    config.layer_norm_epsilon = static_cast<float>(epsilon.get<double>());
  }

  if (reader.has("activation_function")) {  // Hugging Face's default is gelu_new
    const json& activation = reader.at("activation_function");
    const bool tanh_gelu = activation == "gelu_new" || activation == "gelu_pytorch_tanh";
    if (!tanh_gelu)
      reader.fail("activation_function " + activation.dump() + " is not supported",
                  "cscrub implements GPT-2's GELU (tanh approximation): gelu_new or gelu_pytorch_tanh");
  }
  reader.require_bool("scale_attn_weights", true, "cscrub always scales attention scores by 1/sqrt(d_head)");
  reader.require_bool("scale_attn_by_inverse_layer_idx", false, "cscrub does not rescale attention per layer");
  return config;
}

}  // namespace cscrub::io
