#include "hooks.hpp"

#include <pybind11/numpy.h>

#include "arrays.hpp"
#include "cscrub/error.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// Whether `function` takes a second positional argument (the hook, as TransformerLens passes it).
bool takes_two_arguments(const py::handle& function) {
  try {
    py::module_ inspect = py::module_::import("inspect");
    const py::object parameter = inspect.attr("Parameter");
    int positional = 0;
    for (const py::handle& each : inspect.attr("signature")(function).attr("parameters").attr("values")()) {
      const py::object kind = each.attr("kind");
      if (kind.is(parameter.attr("VAR_POSITIONAL"))) return true;
      if (kind.is(parameter.attr("POSITIONAL_ONLY")) || kind.is(parameter.attr("POSITIONAL_OR_KEYWORD"))) ++positional;
    }
    return positional >= 2;
  } catch (const py::error_already_set&) {  // no signature (some builtins): the TransformerLens convention
    return true;
  }
}

// target[...] = value, numpy's broadcasting and casting; a mismatch names the hook.
void assign(py::array_t<float>& target, const py::handle& value, const std::string& name) {
  try {
    target[py::ellipsis()] = value;
  } catch (const py::error_already_set& error) {
    if (!error.matches(PyExc_ValueError) && !error.matches(PyExc_TypeError)) throw;
    throw Error("patch of " + name + ": " + std::string(py::str(error.value())) + " (the hook's shape is " +
                    std::string(py::str(py::tuple(target.attr("shape")))) + ")",
                "give an array of the hook's shape (or one that broadcasts to it), or a callable");
  }
}

}  // namespace

std::set<engine::HookPoint> selected_hooks(const py::handle& names, const engine::ModelConfig& config) {
  const std::vector<engine::HookPoint> all = engine::all_hook_points(config);
  if (names.is_none()) return {all.begin(), all.end()};
  if (py::isinstance<py::str>(names)) return {engine::parse_hook_name(names.cast<std::string>(), config)};
  std::set<engine::HookPoint> selected;
  if (PyCallable_Check(names.ptr())) {
    for (const engine::HookPoint& hook : all)
      if (py::bool_(names(engine::hook_name(hook)))) selected.insert(hook);
    return selected;
  }
  if (!py::isinstance<py::iterable>(names))
    throw Error("names: give None (every hook), a hook name, a list of names, or a callable name -> bool");
  for (const py::handle& name : names) {
    if (!py::isinstance<py::str>(name)) throw Error("names: " + std::string(py::repr(name)) + " is not a hook name");
    selected.insert(engine::parse_hook_name(name.cast<std::string>(), config));
  }
  return selected;
}

PythonHooks::PythonHooks(const engine::ModelConfig& config, std::set<engine::HookPoint> record,
                         const py::handle& patches)
    : record_(std::move(record)) {
  if (patches.is_none()) return;
  if (!py::isinstance<py::dict>(patches))
    throw Error("patches: give a dict {hook name: array or callable}, not " +
                std::string(py::str(patches.get_type().attr("__name__"))));
  for (const auto& [name, value] : py::reinterpret_borrow<py::dict>(patches)) {
    if (!py::isinstance<py::str>(name)) throw Error("patches: " + std::string(py::repr(name)) + " is not a hook name");
    const engine::HookPoint hook = engine::parse_hook_name(name.cast<std::string>(), config);
    Patch patch{py::reinterpret_borrow<py::object>(value), PyCallable_Check(value.ptr()) != 0};
    if (patch.callable) patch.takes_hook = takes_two_arguments(value);
    patches_[hook] = std::move(patch);
  }
}

bool PythonHooks::wants(engine::HookPoint hook) const { return record_.count(hook) > 0 || patches_.count(hook) > 0; }

void PythonHooks::visit(const engine::Activation& activation) {
  py::gil_scoped_acquire gil;
  const std::string name = engine::hook_name(activation.hook);
  const std::span<const int64_t> shape(activation.shape.data(), static_cast<size_t>(activation.rank));
  if (const auto found = patches_.find(activation.hook); found != patches_.end()) {
    // Python gets a copy it owns: a view of the engine's buffer would dangle if the callable kept it.
    py::array_t<float> value = copied_array(activation.data, shape);
    const Patch& patch = found->second;
    if (patch.callable) {
      const py::object returned = patch.takes_hook ? patch.value(value, activation.hook) : patch.value(value);
      if (!returned.is_none()) assign(value, returned, name);
    } else {
      assign(value, patch.value, name);
    }
    std::copy_n(value.data(), activation.data.size(), activation.data.data());
  }
  if (record_.count(activation.hook) > 0) cache_[py::str(name)] = copied_array(activation.data, shape);
}

void bind_hook_point(py::module_& module) {
  py::class_<engine::HookPoint>(module, "HookPoint",
                                "A hook point, as passed to patch callables: .name (TransformerLens's), .layer "
                                "(None outside the blocks) and .site (the name without 'blocks.L.')")
      .def_property_readonly("name", [](const engine::HookPoint& hook) { return engine::hook_name(hook); })
      .def_property_readonly("layer",
                             [](const engine::HookPoint& hook) -> py::object {
                               return hook.layer < 0 ? py::object(py::none()) : py::object(py::int_(hook.layer));
                             })
      .def_property_readonly("site",
                             [](const engine::HookPoint& hook) {
                               return std::string(engine::site_info(hook.site).name);
                             })
      .def("__repr__", [](const engine::HookPoint& hook) { return "HookPoint('" + engine::hook_name(hook) + "')"; });
}

}  // namespace cscrub::python
