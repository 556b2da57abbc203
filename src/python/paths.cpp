#include "paths.hpp"

#include <string>

#include "cscrub/error.hpp"

namespace py = pybind11;

namespace cscrub::python {

std::filesystem::path path_of(const py::handle& value, const char* argument) {
  try {
    const py::object path = py::module_::import("os").attr("fspath")(value);
    return std::filesystem::path(path.cast<std::string>());  // str, or bytes as they are
  } catch (const py::error_already_set&) {
    throw Error(std::string(argument) + ": " + std::string(py::repr(value)) + " is not a path");
  }
}

}  // namespace cscrub::python
