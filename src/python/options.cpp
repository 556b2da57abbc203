#include "options.hpp"

#include <cstdlib>

#include "cscrub/engine/config.hpp"
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

}  // namespace cscrub::python
