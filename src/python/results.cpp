#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

template <class Json>
py::object loads(const Json& json) {
  return py::module_::import("json").attr("loads")(json.dump(-1, ' ', false, Json::error_handler_t::replace));
}

}  // namespace

std::function<void(const std::string&, int, int)> interruptible_progress(const py::object& progress) {
  return [&progress](const std::string& stage, int done, int total) {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) throw py::error_already_set();
    if (progress) progress(stage, done, total);
  };
}

py::object as_python(const nlohmann::ordered_json& json) { return loads(json); }
py::object as_python(const nlohmann::json& json) { return loads(json); }

}  // namespace cscrub::python
