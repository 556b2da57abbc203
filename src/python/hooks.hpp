// Reading and overwriting hook points from Python: an engine::Interventions that records activations into
// numpy arrays and applies patches given as arrays or callables.
#pragma once
#include <pybind11/pybind11.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "cscrub/engine/config.hpp"
#include "cscrub/engine/hooks.hpp"

namespace cscrub::python {

// The hooks `names` selects: None (all), a name, an iterable of names, or a callable name -> bool. Unknown names
// raise cscrub.Error with the closest valid name.
std::set<engine::HookPoint> selected_hooks(const pybind11::handle& names, const engine::ModelConfig& config);

class PythonHooks : public engine::Interventions {
 public:
  // `patches`: None or a dict {hook name: array-like (written over the activation, numpy broadcasting) or
  // callable(activation, hook) (edits the array in place, or returns the new value)}.
  PythonHooks(const engine::ModelConfig& config, std::set<engine::HookPoint> record, const pybind11::handle& patches);

  bool wants(engine::HookPoint hook) const override;
  // Runs with the GIL released around the forward pass: takes it for the Python work. A patch's exception
  // propagates out of the forward pass.
  void visit(const engine::Activation& activation) override;

  // {hook name: float32 array}, in forward order, after patches.
  pybind11::dict cache() const { return cache_; }

 private:
  struct Patch {
    pybind11::object value;  // array-like or callable
    bool callable = false;
    bool takes_hook = true;  // callable(activation, hook), else callable(activation)
  };
  std::set<engine::HookPoint> record_;
  std::map<engine::HookPoint, Patch> patches_;
  pybind11::dict cache_;
};

void bind_hook_point(pybind11::module_& module);

}  // namespace cscrub::python
