// `import cscrub`: the library behind the `cscrub` command, from Python (docs/python.md).
#include "bindings.hpp"
#include "cscrub/io/bundled_data.hpp"

PYBIND11_MODULE(cscrub, module) {
  module.doc() =
      "cscrub: causal scrubbing, activation caching and patching of GPT-2 models (docs/python.md).\n\n"
      "Model(path=None) loads a model directory (the bundled model by default); Model.run_with_cache and\n"
      "Model.run_with_hooks read and overwrite any TransformerLens hook point; dataset() makes a task's prompts;\n"
      "run() and compare() score hypothesis files by causal scrubbing and return what `cscrub run --json` and\n"
      "`cscrub compare --json` write; discover() scores every edge by EAP or EAP-IG and returns the graph JSON\n"
      "`cscrub discover --out` writes. Errors raise cscrub.Error with cscrub's one-line message.";
  module.attr("__version__") = CSCRUB_VERSION;
  // Where the module is, found now: a relative $PYTHONPATH names it relative to today's working directory.
  (void)cscrub::io::code_file();
  cscrub::python::bind_errors(module);
  cscrub::python::bind_model(module);
  cscrub::python::bind_dataset(module);
  cscrub::python::bind_experiment(module);
  cscrub::python::bind_circuits(module);
  cscrub::python::bind_edge_discovery(module);
  cscrub::python::bind_patching(module);
  cscrub::python::bind_attribution(module);
  cscrub::python::bind_attention_pattern(module);
}
