// patch(): activation patching, ablations and path patching from Python, returning the JSON `cscrub patch --json`
// writes (the same numbers, built by the same code in the app layer).
#include "cscrub/app/patching.hpp"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "dataset.hpp"
#include "model.hpp"
#include "options.hpp"
#include "paths.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// The keyword arguments, as the CLI's options.
app::PatchingOptions patch_options(const py::kwargs& given, py::object& progress) {
  app::PatchingOptions options;
  options.matmul = default_matmul();
  bool generated = false;   // task or options given
  bool seed_given = false;  // pairs come with none
  for (const auto& [key_handle, value] : given) {
    const std::string key = key_handle.cast<std::string>();
    if (value.is_none()) continue;  // the default
    if (model_keyword(key, value, options.model, options.matmul)) continue;
    if (key == "pairs") {
      options.prompts.pairs = path_of(value, "pairs").string();
    } else if (key == "dataset") {
      options.prompts.dataset = path_of(value, "dataset").string();
    } else if (key == "task") {
      options.prompts.task = text_option(value, "task");
      generated = true;
    } else if (key == "n") {
      options.prompts.n = number_option<int>(value, "n");
      options.prompts.n_given = true;
    } else if (key == "seed") {
      options.prompts.seed = seed_option(value);
      seed_given = true;
    } else if (key == "options") {
      options.prompts.task_options = option_items(value);
      generated = true;
    } else if (key == "batch_size") {
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
      if (!PyCallable_Check(value.ptr())) throw Error("progress: give a callable(stage, done, total)");
      progress = py::reinterpret_borrow<py::object>(value);
    } else {
      throw Error("unknown keyword argument '" + key + "'",
                  "model, matmul, task, n, seed, options, dataset, pairs, batch_size, kind, site, position, "
                  "receivers, direction, ablation, value, top, progress");
    }
  }
  // As the CLI's --pairs excludes --task, --n, --seed, --option and --dataset, and --dataset --task and --option.
  if (!options.prompts.pairs.empty() &&
      (generated || options.prompts.n_given || seed_given || !options.prompts.dataset.empty()))
    throw Error("pairs: give a pair file, or task/n/seed/options or a dataset for the pairs, not both");
  if (!options.prompts.dataset.empty() && generated)
    throw Error("dataset: give a dataset file or task/options, not both");
  if (options.model.empty()) options.model = io::default_model_dir().string();
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
        nlohmann::ordered_json json;
        {
          py::gil_scoped_release released;
          app::check_patching_options(options);
          json = app::patching_json(app::run_patching(options, interruptible_progress(progress)));
        }
        return as_python(json);
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
