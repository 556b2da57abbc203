#include "arrays.hpp"

#include <string>

#include "cscrub/error.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

std::vector<int64_t> as_int64(const py::handle& input, std::vector<py::ssize_t>& shape) {
  // Strings were handled before; np.asarray turns lists, tuples, torch tensors and arrays into one array.
  py::module_ numpy = py::module_::import("numpy");
  py::array array;
  try {
    array = numpy.attr("asarray")(input);
  } catch (const py::error_already_set& error) {  // a ragged list: numpy refuses it
    throw Error("tokens: not an array of token ids (" + std::string(py::str(error.value())) + ")",
                "give a [pos] or [batch, pos] array of integers; sequences of different lengths need padding");
  }
  if (array.size() == 0) throw Error("tokens: no token ids");
  const char kind = array.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw Error("tokens: token ids must be integers, not dtype " + std::string(py::str(array.dtype())),
                "give a [pos] or [batch, pos] integer array, or a string");
  if (array.ndim() < 1 || array.ndim() > 2)
    throw Error("tokens: token ids must be [pos] or [batch, pos], not of rank " + std::to_string(array.ndim()));
  shape.assign(array.shape(), array.shape() + array.ndim());
  // uint64 ids beyond int64 would wrap in a cast: compared as they are first.
  if (kind == 'u' && array.itemsize() == 8 && array.size() > 0 &&
      numpy.attr("any")(py::reinterpret_borrow<py::object>(array) > py::int_(INT32_MAX)).cast<bool>())
    throw Error("tokens: a token id beyond int32");
  auto ids = py::array_t<int64_t, py::array::c_style | py::array::forcecast>::ensure(array);
  return std::vector<int64_t>(ids.data(), ids.data() + ids.size());
}

}  // namespace

TokenIds token_ids(const py::handle& input, const io::Tokenizer* tokenizer) {
  auto encode = [&](const py::handle& text) {
    if (tokenizer == nullptr)
      throw Error("tokens: text needs a tokenizer, and this model directory has none",
                  "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe), or give token ids");
    std::vector<int32_t> ids = tokenizer->encode(text.cast<std::string>());
    if (ids.empty()) throw Error("tokens: the text is empty");
    return ids;
  };
  TokenIds tokens;
  if (py::isinstance<py::str>(input)) {
    tokens.ids = encode(input);
    tokens.positions = static_cast<int>(tokens.ids.size());
    return tokens;
  }
  if (py::isinstance<py::list>(input) || py::isinstance<py::tuple>(input)) {
    py::sequence texts = py::reinterpret_borrow<py::sequence>(input);
    if (texts.size() > 0 && py::isinstance<py::str>(texts[0])) {
      tokens.batch = static_cast<int>(texts.size());
      for (size_t b = 0; b < texts.size(); ++b) {
        if (!py::isinstance<py::str>(texts[b])) throw Error("tokens: a list mixing strings and other values");
        const std::vector<int32_t> ids = encode(texts[b]);
        if (b == 0) tokens.positions = static_cast<int>(ids.size());
        if (static_cast<int>(ids.size()) != tokens.positions)
          throw Error("tokens: text " + std::to_string(b) + " has " + std::to_string(ids.size()) + " tokens, text 0 " +
                          std::to_string(tokens.positions),
                      "run texts of one length together (cscrub does not pad)");
        tokens.ids.insert(tokens.ids.end(), ids.begin(), ids.end());
      }
      return tokens;
    }
  }
  // One id is a sequence of one token.
  const py::object sequence = py::isinstance<py::int_>(input) && !py::isinstance<py::bool_>(input)
                                  ? py::object(py::make_tuple(input))
                                  : py::reinterpret_borrow<py::object>(input);
  std::vector<py::ssize_t> shape;
  const std::vector<int64_t> ids = as_int64(sequence, shape);
  if (ids.empty()) throw Error("tokens: no token ids");
  for (int64_t id : ids) {
    if (id < 0 || id > INT32_MAX) throw Error("tokens: " + std::to_string(id) + " is not a token id");
    tokens.ids.push_back(static_cast<int32_t>(id));
  }
  tokens.batch = shape.size() == 2 ? static_cast<int>(shape[0]) : 1;
  tokens.positions = static_cast<int>(shape.back());
  return tokens;
}

template <class Owner>
py::array_t<float> owning_array_of(Owner&& owner, std::span<const int64_t> shape) {
  auto* kept = new Owner(std::move(owner));
  py::capsule free_when_done(kept, [](void* pointer) { delete static_cast<Owner*>(pointer); });
  return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()), kept->data(), free_when_done);
}

py::array_t<float> owning_array(std::vector<float>&& values, std::span<const int64_t> shape) {
  return owning_array_of(std::move(values), shape);
}

py::array_t<float> owning_array(engine::RowMatrix&& values, std::span<const int64_t> shape) {
  return owning_array_of(std::move(values), shape);
}

py::array_t<float> copied_array(std::span<const float> values, std::span<const int64_t> shape) {
  py::array_t<float> array(std::vector<py::ssize_t>(shape.begin(), shape.end()));
  std::copy(values.begin(), values.end(), array.mutable_data());
  return array;
}

py::str text_of(std::string_view bytes) {
  PyObject* text = PyUnicode_DecodeUTF8(bytes.data(), static_cast<py::ssize_t>(bytes.size()), "replace");
  if (text == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

}  // namespace cscrub::python
