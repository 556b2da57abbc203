// run() and compare(): causal scrubbing from Python, returning the dicts `cscrub run --json` and
// `cscrub compare --json` write (the same JSON, built by the same code).
#include <pybind11/functional.h>
#include <pybind11/stl.h>

#include <cmath>

#include "bindings.hpp"
#include "cscrub/app/circuit_tests.hpp"
#include "cscrub/app/experiment.hpp"
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

// The keyword arguments both functions take, as the CLI's options.
struct Arguments {
  app::ExperimentOptions options;
  std::shared_ptr<Dataset> dataset;  // kept alive while options.dataset points into it
  py::object progress;
};

Arguments arguments(const py::kwargs& given) {
  Arguments arguments;
  app::ExperimentOptions& options = arguments.options;
  options.matmul = default_matmul();
  for (const auto& [key_handle, value] : given) {
    const std::string key = key_handle.cast<std::string>();
    if (value.is_none()) continue;  // the default
    if (model_keyword(key, value, options.model, options.matmul)) continue;
    if (key == "n") {
      options.n = number_option<int>(value, "n");
      if (options.n < 1) throw Error("n must be at least 1 (got " + std::to_string(options.n) + ")");
    } else if (key == "seeds") {
      options.seeds = number_option<int>(value, "seeds");
      if (options.seeds < 1) throw Error("seeds must be at least 1 (got " + std::to_string(options.seeds) + ")");
    } else if (key == "seed") {
      options.seed = seed_option(value);
    } else if (key == "metric") {
      options.metric = text_option(value, "metric");
    } else if (key == "task") {
      options.task = text_option(value, "task");
    } else if (key == "options") {
      options.task_options = option_items(value);
    } else if (key == "dataset") {
      if (py::isinstance<Dataset>(value)) {
        arguments.dataset = value.cast<std::shared_ptr<Dataset>>();
        options.dataset = &arguments.dataset->dataset;
      } else {
        options.dataset_file = path_of(value, "dataset").string();
      }
    } else if (key == "baseline") {
      options.baseline = path_of(value, "baseline").string();
    } else if (key == "sampling") {
      options.sampling = text_option(value, "sampling");
    } else if (key == "exclude_singletons") {
      if (!py::isinstance<py::bool_>(value)) throw Error("exclude_singletons: give True or False");
      options.exclude_singletons = value.cast<bool>();
    } else if (key == "batch_size") {
      options.batch_size = number_option<int>(value, "batch_size");
      if (options.batch_size < 1) throw Error("batch_size must be at least 1");
    } else if (key == "max_memory") {
      options.max_memory_gib = number_option<double>(value, "max_memory");
      if (!std::isfinite(options.max_memory_gib) || options.max_memory_gib <= 0)
        throw Error("max_memory must be a positive number of GiB");
    } else if (key == "threads") {
      options.threads = number_option<int>(value, "threads");
      if (options.threads < 1) throw Error("threads must be at least 1");
    } else if (key == "progress") {
      arguments.progress = progress_option(value);
    } else {
      throw Error("unknown keyword argument '" + key + "'",
                  "model, n, seeds, seed, metric, task, options, dataset, baseline, sampling, exclude_singletons, "
                  "batch_size, max_memory, threads, matmul, progress");
    }
  }
  if (options.model.empty()) options.model = io::default_model_dir().string();
  return arguments;
}

// cscrub test's own keywords (alpha, margin, random, random_layers, ablations), taken out of `given`.
app::CircuitTestOptions circuit_test_options(py::kwargs& given) {
  app::CircuitTestOptions options;
  const auto take = [&](const char* key) -> py::object {
    if (!given.contains(key)) return py::none();
    return given.attr("pop")(key);
  };
  if (py::object value = take("alpha"); !value.is_none()) options.alpha = number_option<double>(value, "alpha");
  if (py::object value = take("margin"); !value.is_none()) options.margin_points = number_option<double>(value, "margin");
  if (py::object value = take("random"); !value.is_none()) {
    options.random_circuits = number_option<int>(value, "random");
  }
  if (py::object value = take("random_layers"); !value.is_none())
    options.random_layers = text_option(value, "random_layers");
  if (py::object value = take("ablations"); !value.is_none()) {
    if (py::isinstance<py::str>(value)) throw Error("ablations: give a list of names");
    options.ablations.clear();
    for (const py::handle& name : value) options.ablations.push_back(text_option(name, "ablations"));
  }
  return options;
}

// The experiment with the GIL released; the progress callback takes it to let Ctrl-C (and the caller's callback)
// through.
py::object run_experiment(const Arguments& arguments, const std::vector<std::string>& hypotheses, bool compared) {
  nlohmann::json json;
  {
    py::gil_scoped_release released;
    const app::PreparedExperiment prepared = app::prepare_experiment(arguments.options, hypotheses);
    const scrub::ExperimentResult result = scrub::run_experiment(
        prepared.weights, prepared.dataset, prepared.hypotheses, prepared.baseline, prepared.settings,
        interruptible_progress(arguments.progress));
    json = compared ? app::experiment_json(prepared, result) : app::hypothesis_json(prepared, result, 0);
  }
  return as_python(json);
}

std::vector<std::string> hypothesis_files(const py::handle& hypotheses, const char* function) {
  std::vector<std::string> files;
  if (py::isinstance<py::str>(hypotheses)) throw Error(std::string(function) + ": give a list of hypothesis files");
  for (const py::handle& hypothesis : hypotheses) files.push_back(path_of(hypothesis, "hypotheses").string());
  if (files.empty()) throw Error(std::string(function) + ": no hypotheses given");
  return files;
}

}  // namespace

void bind_experiment(py::module_& module) {
  module.def(
      "run",
      [](const py::handle& hypothesis, const py::kwargs& given) {
        return run_experiment(arguments(given), {path_of(hypothesis, "hypothesis").string()}, false);
      },
      py::arg("hypothesis"),
      "Scores one hypothesis file (or 'builtin:full' / 'builtin:none') by causal scrubbing; returns the dict "
      "`cscrub run FILE --json OUT` writes, number for number. Keywords, as the CLI's options: model (path or Model), "
      "n, seeds, seed, metric, task, options ({key: value}), dataset (path or Dataset), baseline, sampling ('cscrub' or "
      "'paper'), exclude_singletons, batch_size, "
      "max_memory (GiB), threads, matmul, progress (callable(stage, done, total)).");
  module.def(
      "compare",
      [](const py::handle& hypotheses, const py::kwargs& given) {
        return run_experiment(arguments(given), hypothesis_files(hypotheses, "compare"), true);
      },
      py::arg("hypotheses"),
      "Scores several hypotheses on the same prompts and seeds; returns the dict `cscrub compare A B ... --json OUT` "
      "writes. The first is the reference of the paired differences. Keywords as for run().");
  module.def(
      "test",
      [](const py::handle& hypotheses, py::kwargs given) {
        const std::vector<std::string> files = py::isinstance<py::str>(hypotheses) || !py::isinstance<py::iterable>(hypotheses)
                                                   ? std::vector<std::string>{path_of(hypotheses, "hypothesis").string()}
                                                   : hypothesis_files(hypotheses, "test");
        const app::CircuitTestOptions tests = circuit_test_options(given);
        const Arguments parsed = arguments(given);
        nlohmann::json json;
        {
          py::gil_scoped_release released;
          json = app::run_circuit_tests(parsed.options, files, tests, {}, interruptible_progress(parsed.progress));
        }
        return as_python(json);
      },
      py::arg("hypotheses"),
      "The hypothesis tests of one claim (a file) or of each of several in turn: equivalence with the model (TOST), "
      "necessity of each node (Holm), random circuits of its shape, per-reference quantiles and worst references, "
      "and the claim under other ablations (docs/hypothesis-tests.md). Returns the dict `cscrub test ... --json OUT` "
      "writes. Keywords: alpha, margin (points), random (circuits), random_layers ('same' or 'all'), ablations "
      "(list of 'resample', 'mean', 'zero', 'counterfactual'), and run()'s.");
}

}  // namespace cscrub::python
