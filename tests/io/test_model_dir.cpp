// Model directories: config.json parsing, loading of every dtype and naming variant, and one test per
// malformation (each must give its own message naming the file and tensor, never crash).
#include <Eigen/Core>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "json_file.hpp"
#include "random_model.hpp"
#include "test_paths.hpp"

using cscrub::Error;
using Catch::Matchers::Contains;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

// A safetensors file taken apart so tests can corrupt the header or the data and write it back.
struct RawSafetensors {
  json header;
  std::string data;

  static RawSafetensors read(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream buffer;
    buffer << in.rdbuf();
    const std::string bytes = buffer.str();
    REQUIRE(bytes.size() >= 8);
    uint64_t length = 0;
    for (int i = 7; i >= 0; --i) length = (length << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
    RawSafetensors raw;
    raw.header = json::parse(bytes.substr(8, length));
    raw.data = bytes.substr(8 + length);
    return raw;
  }

  void write(const fs::path& path) const {
    const std::string text = header.dump();
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    for (int i = 0; i < 8; ++i) out.put(static_cast<char>((text.size() >> (8 * i)) & 0xff));
    out << text << data;
  }

  // Stores a copy of tensor `from` (header entry and bytes) under `name`, at the end of the data.
  void add_copy(const std::string& name, const std::string& from) {
    const auto [begin, end] = span_of(from);
    const size_t start = data.size();
    data += data.substr(begin, end - begin);
    header[name] = header.at(from);
    header[name]["data_offsets"] = {start, data.size()};
  }

  // Where a tensor's bytes are in `data`.
  std::pair<size_t, size_t> span_of(const std::string& name) const {
    const json& offsets = header.at(name).at("data_offsets");
    return {offsets[0].get<size_t>(), offsets[1].get<size_t>()};
  }
};

void write_json(const fs::path& path, const json& value) { std::ofstream(path, std::ios::trunc) << value.dump(2); }

// A fresh copy of the shared valid model, to be corrupted by one test.
fs::path fresh_model(const fs::path& pristine, const std::string& label) {
  const fs::path dir = cscrub::test::scratch_dir(label);
  fs::copy(pristine, dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
  return dir;
}

void expect_load_error(const fs::path& dir, const fs::path& named_file, const std::string& needle) {
  try {
    (void)cscrub::io::load_weights(dir);
    FAIL("no error; expected one containing: " << needle);
  } catch (const Error& error) {
    const std::string message = error.what();
    INFO(message);
    CHECK(message.rfind(named_file.string(), 0) == 0);
    CHECK_THAT(message, Contains(needle));
  }
}

const fs::path& pristine_model() {  // one generated model reused by the fault tests (read-only)
  static const fs::path dir = [] {
    const fs::path made = cscrub::test::scratch_dir("model-pristine") / "model";
    cscrub::test::RandomModelOptions options;  // 2 layers, 4 heads, d_model 64, vocab 97, n_ctx 32
    cscrub::test::make_random_model(made, options);
    return made;
  }();
  return dir;
}

}  // namespace

TEST_CASE("model dir: config.json gives the model's shape", "[io][model_dir]") {
  const fs::path dir = cscrub::test::scratch_dir("config");
  const fs::path path = dir / "config.json";
  json config = {{"n_layer", 12}, {"n_head", 12}, {"n_embd", 768}, {"n_ctx", 1024}, {"n_positions", 1024},
                 {"vocab_size", 50257}, {"layer_norm_epsilon", 1e-5}, {"activation_function", "gelu_new"},
                 {"n_inner", nullptr}};
  write_json(path, config);
  auto model = cscrub::io::read_config(path);
  CHECK(model.n_layer == 12);
  CHECK(model.n_head == 12);
  CHECK(model.d_model == 768);
  CHECK(model.d_head() == 64);
  CHECK(model.n_ctx == 1024);
  CHECK(model.vocab_size == 50257);
  CHECK(model.d_mlp == 3072);
  CHECK(model.layer_norm_epsilon == 1e-5f);

  SECTION("n_inner, n_positions and epsilon are honoured") {
    config["n_inner"] = 100;
    config["n_positions"] = 64;
    config.erase("n_ctx");
    config["layer_norm_epsilon"] = 1e-6;
    config["activation_function"] = "gelu_pytorch_tanh";
    write_json(path, config);
    model = cscrub::io::read_config(path);
    CHECK(model.d_mlp == 100);
    CHECK(model.n_ctx == 64);
    CHECK(model.layer_norm_epsilon == 1e-6f);
  }
  SECTION("Stanford CRFM's flags and the other GELU are computed") {
    config["scale_attn_by_inverse_layer_idx"] = true;
    config["reorder_and_upcast_attn"] = true;
    config["scale_attn_weights"] = false;
    config["activation_function"] = "gelu";
    config["tie_word_embeddings"] = false;
    write_json(path, config);
    model = cscrub::io::read_config(path);
    CHECK(model.family == cscrub::engine::Family::gpt2);
    CHECK(model.scale_by_inverse_layer);
    CHECK(!model.scale_by_sqrt_d_head);
    CHECK(model.attention_scale(0) == 1.0f);
    CHECK(model.attention_scale(3) == 0.25f);
    CHECK(model.activation == cscrub::engine::ActivationFunction::gelu_erf);
    CHECK(!model.tied_unembedding);
  }
  SECTION("n_inner 0 is an attention-only model") {
    config["n_inner"] = 0;
    write_json(path, config);
    model = cscrub::io::read_config(path);
    CHECK(model.d_mlp == 0);
    CHECK(model.attention_only());
  }
  SECTION("old configs with n_ctx only") {
    config.erase("n_positions");
    config["n_ctx"] = 128;
    write_json(path, config);
    CHECK(cscrub::io::read_config(path).n_ctx == 128);
  }

  struct Fault {
    std::string what;
    std::function<void(json&)> change;
    std::string message;
  };
  const std::vector<Fault> faults = {
      {"missing n_head", [](json& c) { c.erase("n_head"); }, "missing field 'n_head'"},
      {"zero layers", [](json& c) { c["n_layer"] = 0; }, "field 'n_layer' must be a positive integer, not 0"},
      {"fractional n_embd", [](json& c) { c["n_embd"] = 76.8; }, "field 'n_embd' must be a positive integer, not 76.8"},
      {"string vocab", [](json& c) { c["vocab_size"] = "50257"; }, "field 'vocab_size' must be a positive integer"},
      {"negative n_inner", [](json& c) { c["n_inner"] = -1; }, "field 'n_inner' must be a non-negative integer, not -1"},
      {"no positions", [](json& c) { c.erase("n_ctx"); c.erase("n_positions"); }, "missing field 'n_ctx'"},
      {"heads not dividing", [](json& c) { c["n_head"] = 7; }, "n_embd 768 is not divisible by n_head 7"},
      {"relu", [](json& c) { c["activation_function"] = "relu"; }, "activation_function \"relu\" is not supported"},
      {"negative epsilon", [](json& c) { c["layer_norm_epsilon"] = -1; }, "'layer_norm_epsilon' must be a positive number"},
      {"another model type", [](json& c) { c["model_type"] = "llama"; }, "model_type \"llama\" is not supported"},
      {"ALiBi", [](json& c) { c["alibi"] = true; }, "field 'alibi' is true: ALiBi attention biases are not supported"},
      {"grouped-query attention", [](json& c) { c["num_key_value_heads"] = 4; },
       "field 'num_key_value_heads' is 4 for 12 heads: grouped-query attention is not supported"},
      {"multi-query attention", [](json& c) { c["multi_query"] = true; }, "field 'multi_query' is true"},
      {"cross-attention", [](json& c) { c["add_cross_attention"] = true; }, "field 'add_cross_attention' is true"},
      {"relative positions", [](json& c) { c["position_embedding_type"] = "relative_key"; },
       "field 'position_embedding_type' is \"relative_key\""},
      {"scale flag not boolean", [](json& c) { c["scale_attn_by_inverse_layer_idx"] = 1; },
       "field 'scale_attn_by_inverse_layer_idx' must be true or false, not 1"},
  };
  for (const Fault& fault : faults) {
    DYNAMIC_SECTION("fault: " << fault.what) {
      json broken = config;
      fault.change(broken);
      write_json(path, broken);
      CHECK_THROWS_WITH(cscrub::io::read_config(path), Contains(path.string() + ": ") && Contains(fault.message));
    }
  }
  SECTION("fault: not JSON") {
    std::ofstream(path, std::ios::trunc) << "{\"n_layer\": 12,";
    CHECK_THROWS_WITH(cscrub::io::read_config(path), Contains(path.string() + ": not valid JSON"));
  }
  SECTION("fault: absent") {
    CHECK_THROWS_WITH(cscrub::io::read_config(dir / "nope.json"), Contains("nope.json: cannot open"));
  }
}

TEST_CASE("model dir: every dtype and naming variant loads, converted exactly", "[io][model_dir]") {
  // The same seed in F32 and in F16/BF16: the low-precision weights must be exactly the F32 values
  // rounded to that type (Eigen's rounding is the independent check), wherever tensor_slots puts them.
  const fs::path root = cscrub::test::scratch_dir("model-dtypes");
  cscrub::test::RandomModelOptions options{.layers = 3, .heads = 2, .d_model = 48, .vocab = 61, .n_ctx = 20, .seed = 7};
  cscrub::test::make_random_model(root / "f32", options);
  auto reference = cscrub::io::load_weights(root / "f32");
  CHECK(reference.config.n_layer == 3);
  CHECK(reference.config.d_mlp == 192);
  CHECK(reference.layers.size() == 3);
  CHECK(reference.token_embedding.rows() == 61);
  CHECK(reference.position_embedding.rows() == 20);
  // Layer-norm gains are drawn around 1: a sign that names landed in the right slots.
  CHECK(std::abs(reference.layers[2].ln2_weight.mean() - 1.0f) < 0.1f);
  CHECK(std::abs(reference.ln_final_bias.mean()) < 0.1f);

  const auto reference_slots = cscrub::engine::tensor_slots(reference);
  for (const std::string dtype : {"F32", "F16", "BF16"}) {
    for (const bool variants : {false, true}) {
      auto variant_options = options;
      variant_options.dtype = dtype;
      variant_options.prefix = variants;
      variant_options.lm_head = variants;
      variant_options.buffers = variants;
      DYNAMIC_SECTION(variant_options.describe()) {
        const fs::path dir = root / (dtype + (variants ? "-variants" : ""));
        cscrub::test::make_random_model(dir, variant_options);
        auto weights = cscrub::io::load_weights(dir);
        const auto slots = cscrub::engine::tensor_slots(weights);
        REQUIRE(slots.size() == reference_slots.size());
        size_t mismatches = 0;
        for (size_t s = 0; s < slots.size(); ++s) {
          std::vector<float> values(static_cast<size_t>(slots[s].element_count())), exact_values(values.size());
          slots[s].read(values);
          reference_slots[s].read(exact_values);
          for (size_t i = 0; i < values.size(); ++i) {
            const float exact = exact_values[i];
            const float expected = dtype == "F32"   ? exact
                                   : dtype == "F16" ? static_cast<float>(Eigen::half(exact))
                                                    : static_cast<float>(Eigen::bfloat16(exact));
            if (values[i] != expected && ++mismatches <= 3)
              WARN(slots[s].name << "[" << i << "] = " << values[i] << ", expected " << expected);
          }
        }
        CHECK(mismatches == 0);
      }
    }
  }
}

TEST_CASE("model dir: default_model_dir follows CSCRUB_MODEL", "[io][model_dir]") {
  const char* saved = std::getenv("CSCRUB_MODEL");
  const std::string saved_value = saved ? saved : "";
  ::unsetenv("CSCRUB_MODEL");
  CHECK(fs::equivalent(cscrub::io::default_model_dir(), cscrub::test::bundled_model_dir()));
  ::setenv("CSCRUB_MODEL", "/some/where/gpt2", 1);
  CHECK(cscrub::io::default_model_dir() == fs::path("/some/where/gpt2"));
  if (saved) ::setenv("CSCRUB_MODEL", saved_value.c_str(), 1);
  else ::unsetenv("CSCRUB_MODEL");
}

TEST_CASE("model dir: each malformation has its own message", "[io][model_dir]") {
  const fs::path& pristine = pristine_model();
  REQUIRE_NOTHROW(cscrub::io::load_weights(pristine));

  struct Fault {
    std::string what;
    std::function<void(RawSafetensors&)> change;
    std::string message;
  };
  auto poison = [](float value) {
    return [value](RawSafetensors& raw) {
      const auto [begin, end] = raw.span_of("h.1.mlp.c_fc.weight");
      std::memcpy(raw.data.data() + begin + 4 * 17, &value, 4);
      (void)end;
    };
  };
  const std::vector<Fault> faults = {
      {"missing tensor", [](RawSafetensors& raw) { raw.header.erase("h.1.ln_2.bias"); },
       "tensor 'h.1.ln_2.bias' is missing"},
      {"unknown tensor", [](RawSafetensors& raw) { raw.add_copy("h.2.ln_1.weight", "h.1.ln_1.weight"); },
       "tensor 'h.2.ln_1.weight' is not a weight of a 2-layer GPT-2"},
      {"stored twice (with and without prefix)",
       [](RawSafetensors& raw) { raw.add_copy("transformer.ln_f.bias", "ln_f.bias"); },
       "tensor 'ln_f.bias' is stored twice ('ln_f.bias' and 'transformer.ln_f.bias')"},
      {"transposed weight",
       [](RawSafetensors& raw) { raw.header["h.0.mlp.c_fc.weight"]["shape"] = {256, 64}; },
       "tensor 'h.0.mlp.c_fc.weight' has shape [256, 64], but config.json implies [64, 256]"},
      {"unknown dtype", [](RawSafetensors& raw) { raw.header["wpe.weight"]["dtype"] = "F4"; },
       "tensor 'wpe.weight': unknown dtype 'F4'"},
      {"integer weights",
       [](RawSafetensors& raw) { raw.header["ln_f.weight"]["dtype"] = "I32"; },
       "tensor 'ln_f.weight': dtype I32 is not a weight type"},
      {"offsets out of range",
       [](RawSafetensors& raw) {
         const auto [begin, end] = raw.span_of("ln_f.bias");
         raw.header["ln_f.bias"]["data_offsets"] = {begin + raw.data.size(), end + raw.data.size()};
       },
       "tensor 'ln_f.bias': data_offsets"},
      {"overlapping offsets",
       [](RawSafetensors& raw) { raw.header["ln_f.bias"]["data_offsets"] = raw.header["ln_f.weight"]["data_offsets"]; },
       "data overlaps tensor"},
      {"size not matching shape", [](RawSafetensors& raw) { raw.header["wte.weight"]["shape"] = {97, 63}; },
       "tensor 'wte.weight': data_offsets span 24832 bytes but shape [97, 63] of F32 needs 24444"},
      {"NaN weight", poison(std::nanf("")), "tensor 'h.1.mlp.c_fc.weight': value nan at flat index 17 is not finite"},
      {"infinite weight", poison(INFINITY), "tensor 'h.1.mlp.c_fc.weight': value inf at flat index 17 is not finite"},
      {"lm_head not the embedding's shape",
       [](RawSafetensors& raw) { raw.add_copy("lm_head.weight", "wpe.weight"); },
       "tensor 'lm_head.weight' has shape [32, 64], but the tied unembedding must match wte.weight [97, 64]"},
      {"untied lm_head",
       [](RawSafetensors& raw) {
         const auto [begin, end] = raw.span_of("wte.weight");
         const size_t start = raw.data.size();
         raw.data += raw.data.substr(begin, end - begin);
         raw.data[start + 4 * (64 * 5 + 3)] ^= 1;  // one low mantissa bit of row 5, column 3
         raw.header["lm_head.weight"] = {{"dtype", "F32"}, {"shape", {97, 64}}, {"data_offsets", {start, raw.data.size()}}};
       },
       "tensor 'lm_head.weight' differs from wte.weight at row 5, column 3"},
  };
  for (const Fault& fault : faults) {
    DYNAMIC_SECTION("fault: " << fault.what) {
      const fs::path dir = fresh_model(pristine, "model-fault");
      RawSafetensors raw = RawSafetensors::read(dir / "model.safetensors");
      fault.change(raw);
      raw.write(dir / "model.safetensors");
      expect_load_error(dir, dir / "model.safetensors", fault.message);
    }
  }

  SECTION("fault: shape contradicting config.json (n_ctx)") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    json config = cscrub::test::read_json_file(dir / "config.json");
    config["n_positions"] = 16;
    write_json(dir / "config.json", config);
    expect_load_error(dir, dir / "model.safetensors",
                      "tensor 'wpe.weight' has shape [32, 64], but config.json implies [16, 64]");
  }
  SECTION("fault: truncated file") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    const fs::path file = dir / "model.safetensors";
    fs::resize_file(file, 5);
    expect_load_error(dir, file, "file is 5 bytes, too short for the 8-byte header length");
  }
  SECTION("fault: data cut short") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    const fs::path file = dir / "model.safetensors";
    fs::resize_file(file, fs::file_size(file) - 100);
    expect_load_error(dir, file, "out of range: the data section has");
  }
  SECTION("fault: header cut short") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    const fs::path file = dir / "model.safetensors";
    fs::resize_file(file, 200);
    expect_load_error(dir, file, "runs past the end of the file (200 bytes)");
  }
  SECTION("fault: header not JSON") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    const fs::path file = dir / "model.safetensors";
    std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    out.seekp(8);
    out.put('#');
    out.close();
    expect_load_error(dir, file, "is not valid JSON");
  }
  SECTION("fault: no model.safetensors") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    fs::remove(dir / "model.safetensors");
    expect_load_error(dir, dir / "model.safetensors", "not found");
  }
  SECTION("fault: bad config.json is reported before the weights") {
    const fs::path dir = fresh_model(pristine, "model-fault");
    json config = cscrub::test::read_json_file(dir / "config.json");
    config["activation_function"] = "swish";
    write_json(dir / "config.json", config);
    expect_load_error(dir, dir / "config.json", "activation_function \"swish\" is not supported");
  }
}

// Inputs found by fuzzing config.json (fuzz/fuzz_config.cpp) or while writing its properties: each used to
// escape as another exception, overflow an int, turn into inf or 0 in float, overflow the stack while
// quoting the value, or make load_weights allocate what the config asks for (terabytes) before looking
// at the file.
TEST_CASE("model dir: configs found by fuzzing are refused before any harm", "[io][model_dir][fuzz]") {
  const fs::path dir = fresh_model(pristine_model(), "model-fuzzed-config");
  const fs::path path = dir / "config.json";
  const json valid = cscrub::test::read_json_file(path);
  auto with = [&](const std::string& key, const json& value) {
    json changed = valid;
    changed[key] = value;
    return changed.dump();
  };
  struct Fuzzed {
    std::string text;
    std::string message;
  };
  const std::vector<Fuzzed> refused_by_read_config = {
      {"{\"n_layer\": 1e400}", "not valid JSON"},  // nlohmann's out_of_range, not a parse_error
      // nlohmann keeps the last of two equal keys: which n_layer was meant cannot be known.
      {"{\"n_layer\": 2, \"n_head\": 4, \"n_layer\": 3}", "key 'n_layer' appears twice in one object"},
      {with("n_embd", 1 << 30), "field 'n_embd' is 1073741824: too large for the default n_inner = 4 * n_embd"},
      {with("layer_norm_epsilon", 1e300), "'layer_norm_epsilon' must be a positive number within float's range"},
      {with("layer_norm_epsilon", 1e-50), "'layer_norm_epsilon' must be a positive number within float's range"},
      // Quoted with a recursive dump() once: a million nested brackets overflowed the stack. Now refused
      // before parsing beyond 64 levels, and described, not dumped, within them.
      {"{\"n_layer\": " + std::string(1'000'000, '[') + std::string(1'000'000, ']') + "}",
       "config.json:1: JSON values nested more than 64 levels deep (the limit)"},
      {"{\"n_layer\": " + std::string(63, '[') + std::string(63, ']') + "}",
       "field 'n_layer' must be a positive integer, not an array of 1 value"},
      {with("activation_function", json::array({"gelu", json::object()})),
       "activation_function an array of 2 values is not supported"},
      {with("activation_function", std::string(200, 'x')), "activation_function \"xxxxxxxx"},
  };
  for (const Fuzzed& fuzzed : refused_by_read_config) {
    INFO(fuzzed.text);
    std::ofstream(path, std::ios::trunc) << fuzzed.text;
    CHECK_THROWS_WITH(cscrub::io::read_config(path), Contains(path.string() + ":") && Contains(fuzzed.message));
  }

  // Valid configs that do not fit the 2-layer, d_model 64 file: refused from the file's size alone.
  const std::vector<std::pair<std::string, std::string>> too_big = {
      {"n_layer", "weights (n_layer 400, n_embd 64, vocab_size 97, n_positions 32), but the file's tensors hold only"},
      {"n_embd", "weights (n_layer 2, n_embd 262144,"},
      {"vocab_size", "vocab_size 1073741824"},
      {"n_positions", "n_positions 1073741824"},
      {"n_inner", "config.json implies"},
  };
  for (const auto& [key, message] : too_big) {
    DYNAMIC_SECTION("too big: " << key) {
      json changed = valid;
      changed[key] = key == "n_layer" ? 400 : key == "n_embd" ? (1 << 18) : (1 << 30);
      if (key == "n_embd") changed["n_inner"] = 4;
      write_json(path, changed);
      expect_load_error(dir, dir / "model.safetensors", message);
    }
  }
}
