// Checks a dataset must pass before it is used for scrubbing, whoever made it.
#pragma once
#include <string>

#include "cscrub/data/dataset.hpp"
#include "cscrub/engine/config.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::data {

// Every example has one position per schema position (inside the prompt) and one value per feature, an
// answer, and a group; examples of the same group have the same length and the same positions. Throws
// cscrub::Error naming `source` and the example (0-based index).
void check_consistency(const Dataset& dataset, const std::string& source);

// Every token id exists in `tokenizer` and each text encodes to exactly its tokens (a dataset made with
// another tokenizer is caught here). Throws cscrub::Error naming `source` and the example.
void check_tokens(const Dataset& dataset, const io::Tokenizer& tokenizer, const std::string& source);

// Every prompt fits the model's context and every token id (answers and distractors too) its vocabulary,
// which the tokenizer's may exceed. Throws cscrub::Error naming `source` and the example.
void check_fits_model(const Dataset& dataset, const engine::ModelConfig& config, const std::string& source);

}  // namespace cscrub::data
