// Keyword arguments from Python, checked the way the command line checks its options.
#pragma once
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "cscrub/app/prompt_pairs.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"

namespace cscrub::python {

// A str, or cscrub.Error naming the argument.
inline std::string text_option(const pybind11::handle& value, const char* name) {
  if (!pybind11::isinstance<pybind11::str>(value)) throw Error(std::string(name) + ": give a string");
  return value.cast<std::string>();
}

// An int or float (not a bool), or cscrub.Error naming the argument.
template <class Number>
Number number_option(const pybind11::handle& value, const char* name) {
  namespace py = pybind11;
  if (py::isinstance<py::bool_>(value) || !(py::isinstance<py::int_>(value) || py::isinstance<py::float_>(value)))
    throw Error(std::string(name) + ": give a number, not " + std::string(py::repr(value)));
  return value.cast<Number>();
}

// seed=: a whole number from 0.
uint64_t seed_option(const pybind11::handle& value);

// The products' kernel when nothing names one: $CSCRUB_MATMUL, else "auto" (as for the command).
std::string default_matmul();

// Applies model= (a path, or a Model, whose kernel then becomes the default) or matmul= to `model` and
// `matmul`; false for any other keyword.
bool model_keyword(const std::string& key, const pybind11::handle& value, std::string& model, std::string& matmul);

// progress=: a callable(stage, done, total).
pybind11::object progress_option(const pybind11::handle& value);

// The keywords that choose prompts, as the CLI's options: task, n, seed, options, dataset and, where pairs are
// read, pairs. take() applies one to `choice`; check() then refuses what the CLI's options exclude.
class PromptKeywords {
 public:
  PromptKeywords(app::PromptPairChoice& choice, bool pairs_allowed) : choice_(choice), pairs_allowed_(pairs_allowed) {}
  // False for any other keyword.
  bool take(const std::string& key, const pybind11::handle& value);
  void check() const;

 private:
  app::PromptPairChoice& choice_;
  bool pairs_allowed_;
  bool generated_ = false;   // task or options given
  bool seed_given_ = false;  // pairs come with none
};

// The keyword arguments of a command that reads a model and prompts (patch(), attribute(), attention(), discover(),
// faithfulness()) into its `options` (with .model, .matmul and .prompts): model= and matmul= (model_keyword), the
// prompt keywords (PromptKeywords), and every other one not None through `own(key, value)`, which returns false for
// a keyword it does not know: that raises cscrub.Error listing the `known` ones. Then the bundled model if none was
// given.
template <class Options, class Own>
void read_keywords(const pybind11::kwargs& given, Options& options, bool pairs_allowed, const char* known, Own own) {
  options.matmul = default_matmul();
  PromptKeywords prompts(options.prompts, pairs_allowed);
  for (const auto& [key_handle, value] : given) {
    const std::string key = pybind11::cast<std::string>(key_handle);
    if (value.is_none()) continue;  // the default
    if (model_keyword(key, value, options.model, options.matmul) || prompts.take(key, value) || own(key, value))
      continue;
    throw Error("unknown keyword argument '" + key + "'", known);
  }
  prompts.check();
  if (options.model.empty()) options.model = io::default_model_dir().string();
}

}  // namespace cscrub::python
