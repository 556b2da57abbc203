// The `cscrub` Python module: one binding file per part of the library, each adding its classes and functions
// to the module through one of these (module.cpp calls them in order).
#pragma once
#include <pybind11/pybind11.h>

namespace cscrub::python {

void bind_errors(pybind11::module_& module);
void bind_model(pybind11::module_& module);       // Model: config, tokenizer, run_with_cache, run_with_hooks
void bind_dataset(pybind11::module_& module);     // Dataset, dataset(), read_dataset()
void bind_experiment(pybind11::module_& module);  // run(), compare(): the CLI's JSON as dicts
void bind_circuits(pybind11::module_& module);        // faithfulness(), circuit(): MIB's curves, circuits as hypotheses
void bind_edge_discovery(pybind11::module_& module);  // discover(): EAP, EAP-IG edge scores as graph JSON dicts
void bind_patching(pybind11::module_& module);  // patch(): activation and path patching, `cscrub patch --json` as dicts
void bind_attribution(pybind11::module_& module);  // attribute(): direct logit attribution, `cscrub attribute --json`
void bind_attention_pattern(pybind11::module_& module);  // attention(): a head's pattern, `cscrub attention --json`

}  // namespace cscrub::python
