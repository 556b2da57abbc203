// patch(): activation patching, ablations and path patching from Python, returning the JSON `cscrub patch --json`
// writes (the same numbers, built by the same code in the app layer).
#include "cscrub/app/patching.hpp"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "options.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// The keyword arguments, as the CLI's options.
app::PatchingOptions patch_options(const py::kwargs& given, py::object& progress) {
  app::PatchingOptions options;
  read_keywords(given, options, /*pairs_allowed=*/true,
                "model, matmul, task, n, seed, options, dataset, pairs, batch_size, kind, site, position, receivers, "
                "direction, ablation, value, top, progress",
                [&](const std::string& key, const py::handle& value) {
                  if (key == "batch_size") {
                    options.batch_size = number_option<int>(value, "batch_size");
                  } else if (key == "site") {
                    options.site = text_option(value, "site");
                  } else if (key == "position") {
                    options.position = text_option(value, "position");
                  } else if (key == "receivers") {
                    options.receivers = text_option(value, "receivers");
                  } else if (key == "direction") {
                    options.direction = text_option(value, "direction");
                  } else if (key == "ablation") {
                    options.ablation = text_option(value, "ablation");
                  } else if (key == "value") {
                    options.value = text_option(value, "value");
                  } else if (key == "top") {
                    options.top = number_option<int>(value, "top");
                  } else if (key == "progress") {
                    progress = progress_option(value);
                  } else {
                    return false;
                  }
                  return true;
                });
  return options;
}

}  // namespace

void bind_patching(py::module_& module) {
  module.def(
      "patch",
      [](const std::string& kind, const py::kwargs& given) {
        py::object progress;
        app::PatchingOptions options = patch_options(given, progress);
        options.kind = kind;
        return as_python_released([&] {
          app::check_patching_options(options);
          return app::patching_json(app::run_patching(options, interruptible_progress(progress)));
        });
      },
      py::arg("kind") = "head",
      "Activation patching per head, layer or position ('head', 'layer', 'position'), an ablation, or path "
      "patching ('path') over clean/corrupted prompt pairs; returns the result `cscrub patch --kind KIND --json "
      "FILE` writes ('title', 'clean', 'corrupted', the 'change' and 'normalized' grids with their labels, the "
      "'strongest' cells). Keywords, as the CLI's options: model (path or Model), matmul, task, n, seed, options "
      "({key: value}), dataset or pairs (files), batch_size, site, position, receivers (path: logits or "
      "LAYER.HEAD:q|k|v,...), direction (denoise or noise), ablation (zero, mean or resample), value (normalized "
      "or change: what 'strongest' ranks by), top, progress (callable(stage, done, total)).");
}

}  // namespace cscrub::python
