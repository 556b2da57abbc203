// Loading a GPT-2 model directory: config.json decides the shapes, model.safetensors (memory-mapped)
// supplies every tensor of engine::tensor_slots(), converted to float32 and checked.
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

constexpr std::string_view kPrefix = "transformer.";

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

// Hugging Face stores the causal mask as buffers h.{l}.attn.bias / h.{l}.attn.masked_bias: not weights.
bool is_attention_buffer(std::string_view name) {
  if (!name.starts_with("h.")) return false;
  name.remove_prefix(2);
  const size_t digits = name.find_first_not_of("0123456789");
  if (digits == 0 || digits == std::string_view::npos) return false;
  name.remove_prefix(digits);
  return name == ".attn.bias" || name == ".attn.masked_bias";
}

void check_finite(const std::filesystem::path& file, const std::string& name, std::span<const float> values) {
  for (size_t i = 0; i < values.size(); ++i) {
    if (!std::isfinite(values[i])) {
      throw Error(file.string() + ": tensor '" + name + "': value " + std::to_string(values[i]) + " at flat index " +
                  std::to_string(i) + " is not finite");
    }
  }
}

// The unembedding is tied to wte; a stored lm_head.weight must be that same matrix.
void check_tied_lm_head(const std::filesystem::path& file, const SafetensorsTensor& lm_head,
                        const engine::TensorSlot& wte) {
  if (lm_head.shape != wte.shape) {
    throw Error(file.string() + ": tensor '" + lm_head.name + "' has shape " + shape_text(lm_head.shape) +
                ", but the tied unembedding must match wte.weight " + shape_text(wte.shape));
  }
  const size_t columns = static_cast<size_t>(wte.shape[1]);
  std::vector<float> lm_values(static_cast<size_t>(lm_head.element_count()));
  convert_to_float(file, lm_head, lm_values);
  for (size_t i = 0; i < lm_values.size(); ++i) {
    if (lm_values[i] != wte.data[i]) {
      throw Error(file.string() + ": tensor '" + lm_head.name + "' differs from wte.weight at row " +
                      std::to_string(i / columns) + ", column " + std::to_string(i % columns),
                  "cscrub computes logits with the tied embedding (GPT-2's design); untied heads are not supported");
    }
  }
}

// The number of weights `config` implies (saturating at UINT64_MAX; every size is at most 2^30).
uint64_t weight_count(const engine::ModelConfig& config) {
  const uint64_t d = static_cast<uint64_t>(config.d_model), mlp = static_cast<uint64_t>(config.d_mlp);
  const uint64_t per_layer = 4 * d + (3 * d * d + 3 * d) + (d * d + d) + (d * mlp + mlp) + (mlp * d + d);
  uint64_t layers = 0, count = 0;
  if (__builtin_mul_overflow(per_layer, static_cast<uint64_t>(config.n_layer), &layers) ||
      __builtin_add_overflow(layers, (static_cast<uint64_t>(config.vocab_size) + static_cast<uint64_t>(config.n_ctx) + 2) * d,
                             &count))
    return UINT64_MAX;
  return count;
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
                    ", vocab_size " + std::to_string(config.vocab_size) + ", n_positions " + std::to_string(config.n_ctx) +
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

  std::vector<const SafetensorsTensor*> source(slots.size(), nullptr);
  const SafetensorsTensor* lm_head = nullptr;
  for (const SafetensorsTensor& tensor : file.tensors()) {
    std::string_view name = tensor.name;
    if (name.starts_with(kPrefix)) name.remove_prefix(kPrefix.size());
    if (name == "lm_head.weight") {
      lm_head = &tensor;
      continue;
    }
    if (is_attention_buffer(name)) continue;
    const auto slot = slot_by_name.find(name);
    if (slot == slot_by_name.end()) {
      throw Error(file_path.string() + ": tensor '" + tensor.name + "' is not a weight of a " +
                      std::to_string(config.n_layer) + "-layer GPT-2",
                  "config.json says n_layer = " + std::to_string(config.n_layer));
    }
    if (source[slot->second] != nullptr) {
      throw Error(file_path.string() + ": tensor '" + std::string(name) + "' is stored twice ('" +
                  source[slot->second]->name + "' and '" + tensor.name + "')");
    }
    source[slot->second] = &tensor;
  }

  for (size_t i = 0; i < slots.size(); ++i) {
    const engine::TensorSlot& slot = slots[i];
    const SafetensorsTensor* tensor = source[i];
    if (tensor == nullptr) throw Error(file_path.string() + ": tensor '" + slot.name + "' is missing");
    if (tensor->shape != slot.shape) {
      throw Error(file_path.string() + ": tensor '" + tensor->name + "' has shape " + shape_text(tensor->shape) +
                  ", but config.json implies " + shape_text(slot.shape));
    }
    convert_to_float(file_path, *tensor, slot.data);
    check_finite(file_path, tensor->name, slot.data);
  }
  if (lm_head != nullptr) check_tied_lm_head(file_path, *lm_head, slots[slot_by_name.find("wte.weight")->second]);
  return weights;
}

std::filesystem::path default_model_dir() {
  if (const char* from_environment = std::getenv("CSCRUB_MODEL"); from_environment && *from_environment)
    return from_environment;
  return bundled_file("models/gpt2-ioi-mini", "CSCRUB_MODEL");
}

}  // namespace cscrub::io
