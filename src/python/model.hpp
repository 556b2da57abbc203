// The Python Model: a model directory's weights and tokenizer, loaded once.
#pragma once
#include <filesystem>
#include <memory>

#include "cscrub/engine/weights.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::python {

struct Model {
  std::filesystem::path dir;
  engine::Weights weights;
  std::shared_ptr<const io::Tokenizer> tokenizer;  // null when the directory has none

  // Raises cscrub.Error when the directory has no tokenizer.
  const io::Tokenizer& require_tokenizer(const char* for_what) const;
};

}  // namespace cscrub::python
