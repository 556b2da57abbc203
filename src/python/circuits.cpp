// faithfulness() and circuit(): MIB's faithfulness curves of score files, and a circuit cut from one, from Python:
// the dicts and texts `cscrub faithfulness --json` and `cscrub circuit --out/--toml/--dot` write (the same code).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings.hpp"
#include "cscrub/app/circuits.hpp"
#include "cscrub/error.hpp"
#include "options.hpp"
#include "paths.hpp"
#include "results.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

py::object faithfulness(const py::handle& graphs, const py::kwargs& given) {
  app::FaithfulnessOptions options;
  if (py::isinstance<py::str>(graphs) || !py::isinstance<py::iterable>(graphs))
    options.graphs.push_back(path_of(graphs, "graphs").string());
  else
    for (const py::handle& graph : graphs) options.graphs.push_back(path_of(graph, "graphs").string());
  py::object progress;
  read_keywords(given, options, /*pairs_allowed=*/true,
                "model, matmul, pairs, dataset, task, n, seed, options, batch_size, ablation, sizes, metric, "
                "signed_order, greedy, progress",
                [&](const std::string& key, const py::handle& value) {
                  if (key == "batch_size") {
                    options.batch_size = number_option<int>(value, "batch_size");
                  } else if (key == "ablation") {
                    options.ablation = text_option(value, "ablation");
                  } else if (key == "sizes") {
                    for (const py::handle& size : value) options.sizes.push_back(number_option<double>(size, "sizes"));
                  } else if (key == "metric") {
                    options.metric = text_option(value, "metric");
                  } else if (key == "signed_order") {
                    options.signed_order = text_option(value, "signed_order");
                  } else if (key == "greedy") {
                    if (!py::isinstance<py::bool_>(value)) throw Error("greedy: give True or False");
                    options.greedy = value.cast<bool>();
                  } else if (key == "progress") {
                    progress = progress_option(value);
                  } else {
                    return false;
                  }
                  return true;
                });
  nlohmann::ordered_json json;
  {
    py::gil_scoped_release released;
    const app::FaithfulnessRun run =
        app::run_faithfulness(options, interruptible_progress(progress));
    json = app::faithfulness_json(run);
  }
  return as_python(json);
}

py::dict circuit(const py::handle& graph, const py::object& top, const py::object& threshold, const std::string& ranking,
                 const py::object& name, const py::object& task) {
  app::CircuitOptions options;
  options.graph = path_of(graph, "graph").string();
  if (!top.is_none()) options.top = number_option<int>(top, "top");
  if (!threshold.is_none()) options.threshold = number_option<double>(threshold, "threshold");
  options.ranking = ranking;
  if (!name.is_none()) options.name = text_option(name, "name");
  if (!task.is_none()) options.task = text_option(task, "task");
  const app::CircuitCut cut = app::cut_circuit(options);
  py::dict result = as_python(app::circuit_json(cut));
  result["graph"] = py::module_::import("json").attr("loads")(app::circuit_graph_json(cut));
  result["toml"] = app::circuit_toml(cut);
  result["dot"] = app::circuit_dot(cut);
  return result;
}

}  // namespace

void bind_circuits(py::module_& module) {
  module.def("faithfulness", &faithfulness, py::arg("graphs"),
             "MIB's faithfulness curves of one or more graph files (EAP-IG/MIB JSON with edge scores) on prompt pairs; "
             "returns the dict `cscrub faithfulness FILES --json OUT` writes: per file the curves of circuits by "
             "|score| and by signed score, their CPR and CMD. Keywords, as the CLI's options: model (path or Model), "
             "matmul, pairs (a pair file), dataset (a dataset file, its prompts paired within their alignment "
             "groups; n: its first n) or task, n, options ({key: value}); seed, batch_size, ablation "
             "('counterfactual' or 'mean'), sizes (fractions of the edges), metric, signed_order, greedy, progress "
             "(callable(stage, done, total)).");
  module.def("circuit", &circuit, py::arg("graph"), py::kw_only(), py::arg("top") = py::none(),
             py::arg("threshold") = py::none(), py::arg("ranking") = "absolute", py::arg("name") = py::none(),
             py::arg("task") = py::none(),
             "A circuit cut from a graph file's scores (greedily from the logits to `top` edges, or by `threshold`; "
             "neither: the file's own marks), pruned. Returns {'edges': [{'edge', 'score'}] strongest first, 'nodes', "
             "'edge_count', 'node_count', 'how', 'task', 'name', 'graph': the circuit's graph JSON as a dict, "
             "'toml': the hypothesis file `cscrub circuit --toml` writes, 'dot': its Graphviz picture}.");
}

}  // namespace cscrub::python
