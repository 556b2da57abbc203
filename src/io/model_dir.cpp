// Loading a model directory: config.json decides the family and the shapes, model.safetensors (memory-mapped)
// supplies every tensor of engine::tensor_slots(), converted to float32, checked, and laid into Weights.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string_view>

#include "cscrub/error.hpp"
#include "cscrub/io/bundled_data.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/safetensors.hpp"

namespace cscrub::io {

namespace {

using engine::Family;

// Names in a checkpoint of the whole model carry the base model's prefix; a base model's own file has none.
std::string_view checkpoint_prefix(Family family) { return family == Family::gpt_neox ? "gpt_neox." : "transformer."; }

std::string_view family_title(Family family) {
  switch (family) {
    case Family::gpt2: return "GPT-2";
    case Family::gpt_neo: return "GPT-Neo";
    case Family::gpt_neox: return "GPT-NeoX";
  }
  return "?";
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// The layer part of a per-layer buffer's name, "h.3." or "layers.3.", removed; nullopt if `name` has none.
std::optional<std::string_view> after_layer(std::string_view name, std::string_view layers) {
  if (!name.starts_with(layers)) return std::nullopt;
  name.remove_prefix(layers.size());
  const size_t digits = name.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos || name[digits] != '.') return std::nullopt;
  return name.substr(digits + 1);
}

// Hugging Face stores the causal mask (and GPT-NeoX the rotary frequencies) as buffers: not weights.
bool is_attention_buffer(Family family, std::string_view name) {
  switch (family) {
    case Family::gpt2: {
      const auto rest = after_layer(name, "h.");
      return rest && (*rest == "attn.bias" || *rest == "attn.masked_bias");
    }
    case Family::gpt_neo: {
      const auto rest = after_layer(name, "h.");
      return rest && (*rest == "attn.attention.bias" || *rest == "attn.attention.masked_bias");
    }
    case Family::gpt_neox: {
      const auto rest = after_layer(name, "layers.");
      return rest && (*rest == "attention.bias" || *rest == "attention.masked_bias");
    }
  }
  return false;
}

bool is_rotary_frequencies(Family family, std::string_view name) {
  const auto rest = after_layer(name, "layers.");
  return family == Family::gpt_neox && rest && *rest == "attention.rotary_emb.inv_freq";
}

// Old GPT-NeoX checkpoints store the rotary inverse frequencies (and old transformers used them): they must be
// the ones config.json implies, 1 / base^(2i / rotary_dims).
void check_rotary_frequencies(const std::filesystem::path& file, const SafetensorsTensor& tensor,
                              const engine::ModelConfig& config) {
  const int64_t half = config.rotary_dims / 2;
  if (tensor.shape != std::vector<int64_t>{half})
    throw Error(file.string() + ": tensor '" + tensor.name + "' has shape " + shape_text(tensor.shape) +
                ", but config.json's rotary_pct implies [" + std::to_string(half) + "]");
  std::vector<float> stored(static_cast<size_t>(half));
  convert_to_float(file, tensor, stored);
  for (int64_t i = 0; i < half; ++i) {
    const double expected = std::pow(config.rotary_base, -2.0 * static_cast<double>(i) / config.rotary_dims);
    if (!(std::abs(stored[static_cast<size_t>(i)] - expected) <= 1e-2 * expected))  // F16 files round them
      throw Error(file.string() + ": tensor '" + tensor.name + "' holds " + std::to_string(stored[static_cast<size_t>(i)]) +
                      " at index " + std::to_string(i) + ", but config.json (rotary_emb_base " +
                      std::to_string(config.rotary_base) + ", rotary_pct) implies " + std::to_string(expected),
                  "config.json and model.safetensors must come from the same model");
  }
}

void check_finite(const std::filesystem::path& file, const std::string& name, std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(file.string() + ": tensor '" + name + "': value " + std::to_string(values[i]) + " at flat index " +
                  std::to_string(i) + " is not finite");
    }
  }
}

// A tied unembedding: a stored copy (lm_head.weight, embed_out.weight) must be the token embedding itself.
void check_tied_unembedding(const std::filesystem::path& file, const SafetensorsTensor& stored,
                            const engine::TensorSlot& embedding) {
  const std::string embedding_name(embedding.name);
  if (stored.shape != embedding.shape) {
    throw Error(file.string() + ": tensor '" + stored.name + "' has shape " + shape_text(stored.shape) +
                ", but the tied unembedding must match " + embedding_name + " " + shape_text(embedding.shape));
  }
  const size_t columns = static_cast<size_t>(embedding.shape[1]);
  std::vector<float> values(static_cast<size_t>(stored.element_count()));
  convert_to_float(file, stored, values);
  const std::span<const float> expected = *embedding.contiguous();
  for (size_t i = 0; i < values.size(); ++i) {
    if (values[i] != expected[i]) {
      throw Error(file.string() + ": tensor '" + stored.name + "' differs from " + embedding_name + " at row " +
                      std::to_string(i / columns) + ", column " + std::to_string(i % columns),
                  "config.json says tie_word_embeddings (the default for this model_type): logits use " +
                      embedding_name + "; set \"tie_word_embeddings\": false if the file's unembedding is its own");
    }
  }
}

// The number of weights the file must supply: what Weights holds, but for the biases the family's checkpoints
// do not have (kept as zeros).
uint64_t weight_count(const engine::ModelConfig& config) {
  const uint64_t count = engine::parameter_count(config);
  const uint64_t d = static_cast<uint64_t>(config.d_model);
  const uint64_t absent = static_cast<uint64_t>(config.n_layer) * ((config.qkv_bias ? 0 : 3 * d) + (config.attn_out_bias ? 0 : d));
  return count == UINT64_MAX ? count : count - absent;
}

// config.json decides what is allocated, so it is checked against the file first: a wrong or hostile
// config must not allocate more than the file can fill. Weights take at least 2 bytes each (F16/BF16).
void check_file_can_hold(const std::filesystem::path& file_path, const SafetensorsFile& file,
                         const engine::ModelConfig& config) {
  uint64_t stored_bytes = 0;  // tensors do not overlap, so this is at most the file's size
  for (const SafetensorsTensor& tensor : file.tensors()) stored_bytes += tensor.bytes.size();
  const uint64_t needed = weight_count(config);
  if (needed > stored_bytes / 2) {
    throw Error(file_path.string() + ": config.json implies " +
                    (needed == UINT64_MAX ? std::string("more than 2^64") : std::to_string(needed)) +
                    " weights (n_layer " + std::to_string(config.n_layer) + ", n_embd " + std::to_string(config.d_model) +
                    ", vocab_size " + std::to_string(config.vocab_size) +
                    (config.learned_positions ? ", n_positions " + std::to_string(config.n_ctx) : std::string()) +
                    "), but the file's tensors hold only " + std::to_string(stored_bytes) + " bytes",
                "config.json and model.safetensors must come from the same model");
  }
}

}  // namespace

engine::Weights load_weights(const std::filesystem::path& model_dir) {
  const engine::ModelConfig config = read_config(model_dir / "config.json");
  const std::filesystem::path file_path = model_dir / "model.safetensors";
  if (!std::filesystem::exists(file_path))
    throw Error(file_path.string() + ": not found", "the model directory needs model.safetensors");
  const SafetensorsFile file = SafetensorsFile::open(file_path);
  check_file_can_hold(file_path, file, config);

  engine::Weights weights = engine::allocate_weights(config);
  std::vector<engine::TensorSlot> slots = engine::tensor_slots(weights);
  std::map<std::string, size_t, std::less<>> slot_by_name;
  for (size_t i = 0; i < slots.size(); ++i) slot_by_name.emplace(slots[i].name, i);

  const std::string_view prefix = checkpoint_prefix(config.family);
  const std::string tied_name = config.tied_unembedding ? engine::unembedding_name(config.family) : std::string();
  std::vector<const SafetensorsTensor*> source(slots.size(), nullptr);
  const SafetensorsTensor* tied_copy = nullptr;
  std::vector<const SafetensorsTensor*> rotary_frequencies;
  for (const SafetensorsTensor& tensor : file.tensors()) {
    std::string_view name = tensor.name;
    if (name.starts_with(prefix)) name.remove_prefix(prefix.size());
    if (name == tied_name) {
      tied_copy = &tensor;
      continue;
    }
    if (is_attention_buffer(config.family, name)) continue;
    if (is_rotary_frequencies(config.family, name)) {
      rotary_frequencies.push_back(&tensor);
      continue;
    }
    const auto slot = slot_by_name.find(name);
    if (slot == slot_by_name.end()) {
      throw Error(file_path.string() + ": tensor '" + tensor.name + "' is not a weight of a " +
                      std::to_string(config.n_layer) + "-layer " + std::string(family_title(config.family)),
                  "config.json says model_type " + std::string(engine::to_string(config.family)) + ", " +
                      std::to_string(config.n_layer) + " layers");
    }
    if (source[slot->second] != nullptr) {
      throw Error(file_path.string() + ": tensor '" + std::string(name) + "' is stored twice ('" +
                  source[slot->second]->name + "' and '" + tensor.name + "')");
    }
    source[slot->second] = &tensor;
  }

  // Missing tensors are named as this file would name them: with the prefix if its others have it (the LM
  // head's own tensor never does).
  const bool prefixed = std::any_of(file.tensors().begin(), file.tensors().end(),
                                     [&](const SafetensorsTensor& tensor) { return tensor.name.starts_with(prefix); });
  const std::string unembedding = engine::unembedding_name(config.family);
  auto stored_name = [&](const std::string& name) {
    return prefixed && name != unembedding ? std::string(prefix) + name : name;
  };
  std::vector<float> converted;  // for tensors stored in another layout than Weights'
  for (size_t i = 0; i < slots.size(); ++i) {
    const engine::TensorSlot& slot = slots[i];
    const SafetensorsTensor* tensor = source[i];
    if (tensor == nullptr)
      throw Error(file_path.string() + ": tensor '" + stored_name(slot.name) + "' is missing",
                  "config.json says model_type " + std::string(engine::to_string(config.family)) + " (" +
                      std::string(family_title(config.family)) + "'s tensor names)");
    if (tensor->shape != slot.shape) {
      throw Error(file_path.string() + ": tensor '" + tensor->name + "' has shape " + shape_text(tensor->shape) +
                  ", but config.json implies " + shape_text(slot.shape));
    }
    if (const auto direct = slot.contiguous()) {
      convert_to_float(file_path, *tensor, *direct);
      check_finite(file_path, tensor->name, *direct);
    } else {
      converted.resize(static_cast<size_t>(slot.element_count()));
      convert_to_float(file_path, *tensor, converted);
      check_finite(file_path, tensor->name, converted);
      slot.write(converted);
    }
  }
  if (tied_copy != nullptr) check_tied_unembedding(file_path, *tied_copy, slots.front());
  for (const SafetensorsTensor* tensor : rotary_frequencies) check_rotary_frequencies(file_path, *tensor, config);
  return weights;
}

std::filesystem::path default_model_dir() {
  if (const char* from_environment = std::getenv("CSCRUB_MODEL"); from_environment && *from_environment)
    return from_environment;
  return bundled_file("models/gpt2-ioi-mini", "CSCRUB_MODEL");
}

}  // namespace cscrub::io
