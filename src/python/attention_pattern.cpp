// attention(): one head's attention pattern on one prompt from Python, returning the JSON `cscrub attention --json`
// writes (the same numbers, built by the same code in the app layer).
#include "cscrub/app/attention_pattern.hpp"

#include <pybind11/stl.h>

#include "bindings.hpp"
#include "options.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// The keyword arguments, as the CLI's options.
app::AttentionPatternOptions attention_options(const py::kwargs& given) {
  app::AttentionPatternOptions options;
  read_keywords(given, options, /*pairs_allowed=*/false, "model, matmul, text, index, task, n, seed, options, dataset",
                [&](const std::string& key, const py::handle& value) {
                  if (key == "text") {
                    options.text = text_option(value, "text");
                  } else if (key == "index") {
                    options.index = number_option<int>(value, "index");
                  } else {
                    return false;
                  }
                  return true;
                });
  return options;
}

}  // namespace

void bind_attention_pattern(py::module_& module) {
  module.def(
      "attention",
      [](const std::string& head, const py::kwargs& given) {
        app::AttentionPatternOptions options = attention_options(given);
        options.head = head;
        return as_python_released([&] { return app::attention_pattern_json(app::run_attention_pattern(options)); });
      },
      py::arg("head"),
      "One head's attention pattern (head 'LAYER.HEAD', e.g. '2.1') on one prompt: text='...', or index=I for "
      "prompt I of a task's prompts (task, n, seed, options) or of a dataset file; returns the result `cscrub "
      "attention --json FILE` writes ('head', 'prompt', 'tokens', and the 'pattern' [query, key] with each token's "
      "label, its named positions in brackets). Keywords, as the CLI's options: model (path or Model), matmul, text, "
      "index, task, n, seed, options ({key: value}), dataset (a file).");
}

}  // namespace cscrub::python
