// GPT-Neo and GPT-NeoX (Pythia) model directories: their config.json keys and defaults as Hugging Face reads
// them, what each family's file must hold (names, shapes, buffers, tied copies), and every key or tensor that
// would be computed differently refused by name. Their logits and activations are compared with the PyTorch
// reference in test_forward_parity.cpp.
#include <catch2/catch.hpp>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "json_file.hpp"
#include "random_model.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using cscrub::engine::Family;
using nlohmann::json;

namespace {

void write_json(const fs::path& path, const json& value) { std::ofstream(path, std::ios::trunc) << value.dump(2); }

struct Fault {
  std::string what;
  std::function<void(json&)> change;
  std::string message;
};

void check_faults(const fs::path& path, const json& valid, const std::vector<Fault>& faults) {
  for (const Fault& fault : faults) {
    DYNAMIC_SECTION("fault: " << fault.what) {
      json broken = valid;
      fault.change(broken);
      write_json(path, broken);
      CHECK_THROWS_WITH(cscrub::io::read_config(path), Contains(path.string() + ": ") && Contains(fault.message));
    }
  }
}

// A model directory of `family` made by tools/make_random_model.py, then changed by `edit` (config, tensors).
fs::path made_model(const std::string& label, const cscrub::test::RandomModelOptions& options) {
  const fs::path dir = cscrub::test::scratch_dir(label) / "model";
  cscrub::test::make_random_model(dir, options);
  return dir;
}

void expect_load_error(const fs::path& dir, const std::string& file, const std::string& needle) {
  try {
    (void)cscrub::io::load_weights(dir);
    FAIL("no error; expected one containing: " << needle);
  } catch (const cscrub::Error& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.rfind((dir / file).string(), 0) == 0);
    CHECK_THAT(message, Contains(needle));
  }
}

}  // namespace

TEST_CASE("model families: GPT-Neo's config.json", "[io][model_dir][families]") {
  const fs::path dir = cscrub::test::scratch_dir("config-gpt-neo");
  const fs::path path = dir / "config.json";
  // EleutherAI/gpt-neo-125M's keys.
  const json config = {{"model_type", "gpt_neo"}, {"activation_function", "gelu_new"}, {"hidden_size", 768},
                       {"num_layers", 12}, {"num_heads", 12}, {"max_position_embeddings", 2048}, {"vocab_size", 50257},
                       {"intermediate_size", nullptr}, {"window_size", 256}, {"layer_norm_epsilon", 1e-5},
                       {"attention_types", json::parse(R"([[["global", "local"], 6]])")},
                       {"attention_layers", json::parse(R"(["global", "local", "global", "local", "global", "local",
                                                            "global", "local", "global", "local", "global", "local"])")}};
  write_json(path, config);
  const auto model = cscrub::io::read_config(path);
  CHECK(model.family == Family::gpt_neo);
  CHECK(model.n_layer == 12);
  CHECK(model.d_head() == 64);
  CHECK(model.d_mlp == 3072);
  CHECK(model.n_ctx == 2048);
  CHECK(!model.scale_by_sqrt_d_head);
  CHECK(model.attention_scale(5) == 1.0f);
  CHECK(!model.qkv_bias);
  CHECK(model.attn_out_bias);
  CHECK(model.tied_unembedding);
  CHECK(model.learned_positions);
  CHECK(model.attention_window(0) == 0);
  CHECK(model.attention_window(1) == 256);
  CHECK(model.attention_window(11) == 256);
  CHECK(model.activation == cscrub::engine::ActivationFunction::gelu_tanh);

  SECTION("num_attention_heads and num_hidden_layers are the same settings") {
    json renamed = config;
    renamed.erase("num_heads");
    renamed["num_attention_heads"] = 12;
    write_json(path, renamed);
    CHECK(cscrub::io::read_config(path).n_head == 12);
  }
  check_faults(path, config,
               {{"window_size 0", [](json& c) { c["window_size"] = 0; }, "field 'window_size' must be a positive integer, not 0"},
                {"types for other layers", [](json& c) { c["attention_types"] = json::parse(R"([[["global"], 5]])"); },
                 "'attention_types' expands to 5 layers, but num_layers is 12"},
                {"unknown type", [](json& c) { c["attention_types"] = json::parse(R"([[["global", "sparse"], 6]])"); },
                 "attention type \"sparse\" in 'attention_types' is neither \"global\" nor \"local\""},
                {"malformed types", [](json& c) { c["attention_types"] = json::parse(R"([["global", 12]])"); },
                 "field 'attention_types' must be a list of [[types...], repeats]"},
                {"layers disagree", [](json& c) { c["attention_layers"][0] = "local"; },
                 "field 'attention_layers' disagrees with what 'attention_types' expands to"},
                {"heads named twice", [](json& c) { c["num_attention_heads"] = 16; },
                 "fields 'num_heads' (12) and 'num_attention_heads' (16) name the same setting and disagree"},
                {"missing hidden_size", [](json& c) { c.erase("hidden_size"); }, "missing field 'hidden_size'"},
                {"relu", [](json& c) { c["activation_function"] = "relu"; }, "activation_function \"relu\" is not supported"},
                {"ALiBi", [](json& c) { c["alibi"] = true; }, "field 'alibi' is true"},
                {"attention-only", [](json& c) { c["intermediate_size"] = 0; },
                 "field 'intermediate_size' is 0: attention-only models are supported as GPT-2 configs (n_inner 0) only"}});
}

TEST_CASE("model families: GPT-NeoX's config.json", "[io][model_dir][families]") {
  const fs::path dir = cscrub::test::scratch_dir("config-gpt-neox");
  const fs::path path = dir / "config.json";
  // EleutherAI/pythia-70m's keys.
  const json config = {{"model_type", "gpt_neox"}, {"architectures", {"GPTNeoXForCausalLM"}}, {"hidden_act", "gelu"},
                       {"hidden_size", 512}, {"intermediate_size", 2048}, {"layer_norm_eps", 1e-5},
                       {"max_position_embeddings", 2048}, {"num_attention_heads", 8}, {"num_hidden_layers", 6},
                       {"rotary_emb_base", 10000}, {"rotary_pct", 0.25}, {"tie_word_embeddings", false},
                       {"use_parallel_residual", true}, {"vocab_size", 50304}};
  write_json(path, config);
  auto model = cscrub::io::read_config(path);
  CHECK(model.family == Family::gpt_neox);
  CHECK(model.n_layer == 6);
  CHECK(model.d_head() == 64);
  CHECK(model.rotary_dims == 16);
  CHECK(model.rotary_base == 10000.0);
  CHECK(model.parallel_attn_mlp);
  CHECK(!model.learned_positions);
  CHECK(!model.tied_unembedding);
  CHECK(model.qkv_bias);
  CHECK(model.activation == cscrub::engine::ActivationFunction::gelu_erf);
  CHECK(model.attention_scale(3) == 0.125f);

  SECTION("rotary dimensions are truncated, not rounded") {
    json changed = config;
    changed["rotary_pct"] = 0.3;  // 64 * 0.3 = 19.2 -> 19 is odd: refused; 0.35 -> 22.4 -> 22
    changed["rotary_pct"] = 0.35;
    write_json(path, changed);
    CHECK(cscrub::io::read_config(path).rotary_dims == 22);
  }
  SECTION("transformers 5's rope_parameters and 4.4x's rope_theta say the same") {
    json changed = config;
    changed.erase("rotary_pct");
    changed.erase("rotary_emb_base");
    changed["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 500.0}, {"partial_rotary_factor", 0.5}};
    changed["rope_theta"] = 500.0;
    write_json(path, changed);
    model = cscrub::io::read_config(path);
    CHECK(model.rotary_dims == 32);
    CHECK(model.rotary_base == 500.0);
  }
  SECTION("sequential residual, no attention biases") {
    json changed = config;
    changed["use_parallel_residual"] = false;
    changed["attention_bias"] = false;
    write_json(path, changed);
    model = cscrub::io::read_config(path);
    CHECK(!model.parallel_attn_mlp);
    CHECK(!model.qkv_bias);
    CHECK(!model.attn_out_bias);
  }
  check_faults(path, config,
               {{"rotary_pct above 1", [](json& c) { c["rotary_pct"] = 1.5; }, "field 'rotary_pct' must be a number from 0 to 1, not 1.5"},
                {"odd rotary dims", [](json& c) { c["rotary_pct"] = 0.3; }, "gives 19 rotary dimensions, an odd number"},
                {"negative base", [](json& c) { c["rotary_emb_base"] = -1; }, "field 'rotary_emb_base' must be a positive number"},
                {"bases disagree", [](json& c) { c["rope_theta"] = 500; },
                 "fields 'rotary_emb_base' (10000) and 'rope_theta' (500) name the same setting and disagree"},
                {"scaled rotary", [](json& c) { c["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}}; },
                 "field 'rope_scaling' has type \"linear\": scaled rotary embeddings are not supported"},
                {"grouped-query attention", [](json& c) { c["num_key_value_heads"] = 2; },
                 "field 'num_key_value_heads' is 2 for 8 heads: grouped-query attention is not supported"},
                {"learned positions", [](json& c) { c["position_embedding_type"] = "absolute"; },
                 "this model_type's positions are rotary"},
                {"missing intermediate_size", [](json& c) { c.erase("intermediate_size"); },
                 "missing field 'intermediate_size'"},
                {"attention-only", [](json& c) { c["intermediate_size"] = 0; },
                 "field 'intermediate_size' is 0: attention-only models are supported as GPT-2 configs (n_inner 0) only"},
                {"hidden not divisible", [](json& c) { c["num_attention_heads"] = 7; },
                 "hidden_size 512 is not divisible by num_attention_heads 7"},
                {"epsilon key", [](json& c) { c["layer_norm_eps"] = 0; }, "field 'layer_norm_eps' must be a positive number"},
                {"quick gelu", [](json& c) { c["hidden_act"] = "quick_gelu"; }, "hidden_act \"quick_gelu\" is not supported"}});
}

TEST_CASE("model families: what each family's checkpoint must hold", "[io][model_dir][families]") {
  using Options = cscrub::test::RandomModelOptions;
  SECTION("GPT-Neo: buffers and a tied lm_head load; a missing projection is named") {
    const fs::path dir = made_model("neo-holds", Options{.family = "gpt_neo", .prefix = true, .lm_head = true, .buffers = true});
    const auto weights = cscrub::io::load_weights(dir);
    CHECK(weights.config.family == Family::gpt_neo);
    CHECK(weights.layers[1].qkv_bias.isZero());  // GPT-Neo has none: zeros, so the forward adds nothing
    auto config = cscrub::test::read_json_file(dir / "config.json");
    config["num_layers"] = 3;
    config["attention_types"] = json::parse(R"([[["global"], 3]])");
    config.erase("attention_layers");
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "tensor 'transformer.h.2.ln_1.weight' is missing");
  }
  SECTION("GPT-NeoX: stored rotary frequencies must be config.json's") {
    const fs::path dir = made_model("neox-inv-freq", Options{.family = "gpt_neox", .buffers = true, .extra = "--rotary-base 500"});
    CHECK_NOTHROW(cscrub::io::load_weights(dir));
    auto config = cscrub::test::read_json_file(dir / "config.json");
    config["rotary_emb_base"] = 10000;
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "tensor 'layers.0.attention.rotary_emb.inv_freq' holds");
    config["rotary_pct"] = 0.5;
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "has shape [2], but config.json's rotary_pct implies [4]");
  }
  SECTION("GPT-NeoX: an untied model needs embed_out; a tied one's copy must equal embed_in") {
    const fs::path dir = made_model("neox-embed-out", Options{.family = "gpt_neox", .prefix = true});
    auto config = cscrub::test::read_json_file(dir / "config.json");
    config["tie_word_embeddings"] = true;
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "tensor 'embed_out.weight' differs from embed_in.weight at row 0");
    const fs::path tied = made_model("neox-tied", Options{.family = "gpt_neox", .extra = "--tied"});
    CHECK_NOTHROW(cscrub::io::load_weights(tied));
    config = cscrub::test::read_json_file(tied / "config.json");
    config["tie_word_embeddings"] = false;
    write_json(tied / "config.json", config);
    expect_load_error(tied, "model.safetensors", "tensor 'embed_out.weight' is missing");
  }
  SECTION("GPT-NeoX: biases the config says are absent are not weights of the model") {
    const fs::path dir = made_model("neox-biases", Options{.family = "gpt_neox"});
    auto config = cscrub::test::read_json_file(dir / "config.json");
    config["attention_bias"] = false;
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "tensor 'layers.0.attention.dense.bias' is not a weight of a 2-layer GPT-NeoX");
  }
  SECTION("a GPT-2 file under a gpt_neox config") {
    const fs::path dir = made_model("gpt2-as-neox", Options{});
    auto config = cscrub::test::read_json_file(dir / "config.json");
    config = {{"model_type", "gpt_neox"}, {"num_hidden_layers", 2}, {"num_attention_heads", 4}, {"hidden_size", 64},
              {"intermediate_size", 256}, {"vocab_size", 97}, {"max_position_embeddings", 32}};
    write_json(dir / "config.json", config);
    expect_load_error(dir, "model.safetensors", "is not a weight of a 2-layer GPT-NeoX");
  }
}
