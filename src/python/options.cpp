#include "options.hpp"

#include <cstdlib>

#include "cscrub/engine/config.hpp"
#include "dataset.hpp"
#include "model.hpp"
#include "paths.hpp"

namespace py = pybind11;

namespace cscrub::python {

uint64_t seed_option(const py::handle& value) {
  const int64_t seed = number_option<int64_t>(value, "seed");
  if (seed < 0) throw Error("seed must not be negative");
  return static_cast<uint64_t>(seed);
}

std::string default_matmul() {
  const char* from_environment = std::getenv("CSCRUB_MATMUL");
  return from_environment != nullptr && *from_environment != '\0' ? from_environment : "auto";
}

bool model_keyword(const std::string& key, const py::handle& value, std::string& model, std::string& matmul) {
  if (key == "matmul") {
    matmul = text_option(value, "matmul");
    return true;
  }
  if (key != "model") return false;
  if (py::isinstance<Model>(value)) {
    const Model& loaded = value.cast<const Model&>();
    model = loaded.dir.string();
    matmul = engine::to_string(loaded.weights.matmul);
  } else {
    model = path_of(value, "model").string();
  }
  return true;
}

py::object progress_option(const py::handle& value) {
  if (!PyCallable_Check(value.ptr())) throw Error("progress: give a callable(stage, done, total)");
  return py::reinterpret_borrow<py::object>(value);
}

bool PromptKeywords::take(const std::string& key, const py::handle& value) {
  if (key == "pairs" && pairs_allowed_) {
    choice_.pairs = path_of(value, "pairs").string();
  } else if (key == "dataset") {
    choice_.dataset = path_of(value, "dataset").string();
  } else if (key == "task") {
    choice_.task = text_option(value, "task");
    generated_ = true;
  } else if (key == "n") {
    choice_.n = number_option<int>(value, "n");
    choice_.n_given = true;
  } else if (key == "seed") {
    choice_.seed = seed_option(value);
    seed_given_ = true;
  } else if (key == "options") {
    choice_.task_options = option_items(value);
    generated_ = true;
  } else {
    return false;
  }
  return true;
}

void PromptKeywords::check() const {
  // As the CLI's --pairs excludes --task, --n, --seed, --option and --dataset, and --dataset --task and --option.
  if (!choice_.pairs.empty() && (generated_ || choice_.n_given || seed_given_ || !choice_.dataset.empty()))
    throw Error("pairs: give a pair file, or task/n/seed/options or a dataset for the pairs, not both");
  if (!choice_.dataset.empty() && generated_) throw Error("dataset: give a dataset file or task/options, not both");
}

}  // namespace cscrub::python
