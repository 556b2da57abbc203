// A model directory in Hugging Face layout: config.json, model.safetensors and the GPT-2 tokenizer files
// (vocab.json + merges.txt, or encoder.json + vocab.bpe).
#pragma once
#include <filesystem>
#include <string>

#include "cscrub/engine/config.hpp"
#include "cscrub/engine/weights.hpp"

namespace cscrub::io {

// Reads config.json; throws cscrub::Error naming the file and the missing or bad field.
engine::ModelConfig read_config(const std::filesystem::path& config_json);

// Loads config.json + model.safetensors (memory-mapped; F32, F16 or BF16) into float32 weights.
// Every inconsistency (truncated file, bad header, overlapping or out-of-range offsets, unknown dtype,
// missing tensor, shape contradicting config.json, NaN/Inf values) throws cscrub::Error naming the file
// and the tensor.
engine::Weights load_weights(const std::filesystem::path& model_dir);

// The default model directory: $CSCRUB_MODEL if set, else the bundled model (share/cscrub/models/gpt2-ioi-mini,
// see bundled_data.hpp). Throws cscrub::Error when neither exists.
std::filesystem::path default_model_dir();

}  // namespace cscrub::io
