// numpy arrays in and out: token ids from whatever a notebook holds, float32 results handed over without a copy.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "cscrub/engine/tensor.hpp"
#include "cscrub/io/tokenizer.hpp"

namespace cscrub::python {

// `batch` sequences of `positions` token ids, row-major.
struct TokenIds {
  std::vector<int32_t> ids;
  int batch = 1;
  int positions = 0;
};

// A string (tokenized), a list of strings that tokenize to one length, an int, a list of ints, a list of lists,
// or an integer array (numpy, or anything np.asarray takes: a CPU torch tensor) of rank 1 ([pos], one sequence)
// or 2 ([batch, pos]). Raises cscrub.Error for anything else (floats, ragged lists, ids below 0 or beyond int32),
// and for text when there is no tokenizer.
TokenIds token_ids(const pybind11::handle& input, const io::Tokenizer* tokenizer);

// A float32 array of `shape` over `values`, which it keeps alive (moved in, never copied).
pybind11::array_t<float> owning_array(std::vector<float>&& values, std::span<const int64_t> shape);
pybind11::array_t<float> owning_array(engine::RowMatrix&& values, std::span<const int64_t> shape);
// A new float32 array of `shape` holding a copy of `values`.
pybind11::array_t<float> copied_array(std::span<const float> values, std::span<const int64_t> shape);

// Bytes that may end inside a UTF-8 character (a token's text) as a str, with U+FFFD for what is not UTF-8.
pybind11::str text_of(std::string_view bytes);

}  // namespace cscrub::python
