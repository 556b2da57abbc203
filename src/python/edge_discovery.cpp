// discover(): EAP, EAP-IG, exact patching and ACDC edge scores from Python, returning the graph JSON `cscrub discover --out` writes
// (the same bytes, built by the same code in the app layer).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings.hpp"
#include "cscrub/app/edge_discovery.hpp"
#include "cscrub/error.hpp"
#include "options.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

// The keyword arguments, as the CLI's options.
app::EdgeDiscoveryOptions discover_options(const py::kwargs& given, py::object& progress) {
  app::EdgeDiscoveryOptions options;
  read_keywords(given, options, /*pairs_allowed=*/true,
                "model, steps, threshold, metric, pairs, dataset, task, n, seed, options, batch_size, max_memory, "
                "matmul, progress",
                [&](const std::string& key, const py::handle& value) {
                  if (key == "steps") {
                    options.steps = number_option<int>(value, "steps");
                  } else if (key == "threshold") {
                    options.threshold = number_option<double>(value, "threshold");
                  } else if (key == "metric") {
                    options.metric = text_option(value, "metric");
                  } else if (key == "batch_size") {
                    options.batch_size = number_option<int>(value, "batch_size");
                  } else if (key == "max_memory") {
                    options.max_memory_gib = number_option<double>(value, "max_memory");
                    if (!std::isfinite(options.max_memory_gib) || options.max_memory_gib <= 0)
                      throw Error("max_memory must be a positive number of GiB");
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

void bind_edge_discovery(py::module_& module) {
  module.def(
      "discover",
      [](const std::string& method, const py::kwargs& given) {
        py::object progress;
        app::EdgeDiscoveryOptions options = discover_options(given, progress);
        options.method = method;
        std::string json;
        {
          py::gil_scoped_release released;
          const app::PreparedEdgeDiscovery prepared = app::prepare_edge_discovery(options);
          app::check_edge_discovery_memory(prepared);
          const std::string stage = app::method_label(prepared);
          const auto report = interruptible_progress(progress);
          const app::EdgeDiscoveryRun run =
              app::run_edge_discovery(prepared, [&](int done, int total) { report(stage, done, total); });
          json = app::edge_discovery_graph_json(run);
        }
        return py::module_::import("json").attr("loads")(json);
      },
      py::arg("method"),
      "Scores every edge of the model's graph by EAP, EAP-IG or exact patching ('eap', 'eap-ig', 'exact'), or "
      "prunes it by ACDC ('acdc') on prompt pairs; returns the graph JSON `cscrub discover --method METHOD --out "
      "GRAPH.json` writes (EAP-IG's and MIB's format: 'cfg', 'nodes', 'edges' with each edge's 'score' and "
      "'in_graph', and cscrub's record 'cscrub'). Keywords, as the CLI's options: model (path or Model), steps "
      "(EAP-IG's M, 5), threshold (ACDC's tau, required for acdc), metric (logit_diff, prob_diff, kl, loss; default "
      "kl for acdc, logit_diff otherwise), pairs (a pair file), dataset (a dataset file, its prompts paired within "
      "their alignment groups; n: its first n) or task, n, options ({key: value}) for generated pairs; seed, "
      "batch_size, max_memory (GiB), matmul, progress (callable(stage, done, total)).");
}

}  // namespace cscrub::python
