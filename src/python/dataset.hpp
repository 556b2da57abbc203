// A task's prompts in Python: the same examples, and the same JSON Lines bytes, as `cscrub dataset` writes.
#pragma once
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::python {

struct Dataset {
  Dataset(data::Dataset dataset, std::shared_ptr<const io::Tokenizer> tokenizer);
  data::Dataset dataset;
  std::shared_ptr<const io::Tokenizer> tokenizer;
  std::string jsonl;                // what `cscrub dataset --out` writes
  std::vector<size_t> line_starts;  // where each example's line begins in jsonl
};

// The tokenizer of `model`: None (the default model's), a path, or a Model.
std::shared_ptr<const io::Tokenizer> tokenizer_of(const pybind11::handle& model);

// {key: value} or ["key=value", ...] -> the CLI's --option items, in the given order.
std::vector<std::string> option_items(const pybind11::handle& options);

}  // namespace cscrub::python
