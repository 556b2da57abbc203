// attribute(): direct logit attribution from Python, returning the JSON `cscrub attribute --json` writes (the same
// numbers, built by the same code in the app layer).
#include "cscrub/app/attribution.hpp"

#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "options.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// The keyword arguments, as the CLI's options.
app::AttributionOptions attribute_options(const py::kwargs& given, py::object& progress) {
  app::AttributionOptions options;
  read_keywords(given, options, /*pairs_allowed=*/false,
                "model, matmul, task, n, seed, options, dataset, batch_size, top, progress",
                [&](const std::string& key, const py::handle& value) {
                  if (key == "batch_size") {
                    options.batch_size = number_option<int>(value, "batch_size");
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

void bind_attribution(py::module_& module) {
  module.def(
      "attribute",
      [](const py::kwargs& given) {
        py::object progress;
        const app::AttributionOptions options = attribute_options(given, progress);
        return as_python_released([&] {
          app::check_attribution_options(options);
          return app::attribution_json(app::run_attribution(options, interruptible_progress(progress)));
        });
      },
      "Direct logit attribution on a task's (or a dataset's) prompts: each head's, MLP's, bias' and embedding's "
      "direct effect on the logit difference at the last position (ln_f's scale frozen); returns the result `cscrub "
      "attribute --json FILE` writes ('logit_diff', the 'heads' grid with its labels, 'mlps', 'attention_biases', "
      "'token_embedding', 'position_embedding', 'final_bias', 'sum_of_parts', the 'strongest' heads). Keywords, as "
      "the CLI's options: model (path or Model), matmul, task, n, seed, options ({key: value}), dataset (a file), "
      "batch_size, top, progress (callable(stage, done, total)).");
}

}  // namespace cscrub::python
