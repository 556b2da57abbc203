// What the bindings that run a whole command share: the caller's progress callback, called with the GIL taken so
// that Ctrl-C (and the callback) get through, and the command's JSON result as Python objects.
#pragma once
#include <pybind11/pybind11.h>

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

namespace cscrub::python {

// A progress function for work that runs with the GIL released: it takes the GIL, raises on Ctrl-C, and calls
// `progress(stage, done, total)` unless `progress` is None. `progress` is held by reference (copying a Python
// object needs the GIL), so it must outlive the function.
std::function<void(const std::string& stage, int done, int total)> interruptible_progress(
    const pybind11::object& progress);

// Through the text the CLI writes, so that the dict is what json.load() of its file gives (NaN as None too).
pybind11::object as_python(const nlohmann::ordered_json& json);
pybind11::object as_python(const nlohmann::json& json);

// `compute()`'s JSON, computed with the GIL released (the interpreter's other threads run on), as Python objects.
template <class Compute>
pybind11::object as_python_released(Compute compute) {
  nlohmann::ordered_json json;
  {
    pybind11::gil_scoped_release released;
    json = compute();
  }
  return as_python(json);
}

}  // namespace cscrub::python
