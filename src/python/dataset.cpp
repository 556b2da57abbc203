// dataset(task, n, seed) and read_dataset(path): datasets as Python sequences of the JSONL lines' dicts.
#include "dataset.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <map>
#include <sstream>

#include "bindings.hpp"
#include "cscrub/io/output_file.hpp"
#include "cscrub/app/task_options.hpp"
#include "cscrub/data/checks.hpp"
#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/output_file.hpp"
#include "model.hpp"
#include "paths.hpp"

namespace py = pybind11;

namespace cscrub::python {

Dataset::Dataset(data::Dataset dataset_, std::shared_ptr<const io::Tokenizer> tokenizer_)
    : dataset(std::move(dataset_)), tokenizer(std::move(tokenizer_)) {
  std::ostringstream out;
  data::write_jsonl(dataset, *tokenizer, out);
  jsonl = out.str();
  for (size_t start = 0; start < jsonl.size();) {  // every line ends with '\n'
    line_starts.push_back(start);
    start = jsonl.find('\n', start) + 1;
  }
}

std::shared_ptr<const io::Tokenizer> tokenizer_of(const py::handle& model) {
  if (py::isinstance<Model>(model)) {
    const Model& loaded = model.cast<const Model&>();
    loaded.require_tokenizer("a dataset");
    return loaded.tokenizer;
  }
  const std::filesystem::path dir = model.is_none() ? io::default_model_dir() : path_of(model, "model");
  return std::make_shared<const io::Tokenizer>(io::Tokenizer::load(dir));
}

std::vector<std::string> option_items(const py::handle& options) {
  std::vector<std::string> items;
  if (options.is_none()) return items;
  if (py::isinstance<py::dict>(options)) {
    for (const auto& [key, value] : py::reinterpret_borrow<py::dict>(options))
      items.push_back(py::str(key).cast<std::string>() + "=" + py::str(value).cast<std::string>());
    return items;
  }
  if (py::isinstance<py::str>(options)) return {options.cast<std::string>()};
  for (const py::handle& item : options) items.push_back(py::str(item).cast<std::string>());
  return items;
}

namespace {

std::shared_ptr<Dataset> make(const std::string& task, int n, uint64_t seed, const py::handle& options,
                              const py::handle& model) {
  data::task_schema(task);  // an unknown task fails before anything is loaded
  if (n <= 0) throw Error("n must be a positive number of prompts (got " + std::to_string(n) + ")");
  const data::TaskOptions task_options = app::parse_task_options(option_items(options));
  std::shared_ptr<const io::Tokenizer> tokenizer = tokenizer_of(model);
  return std::make_shared<Dataset>(data::make_dataset(task, n, seed, *tokenizer, task_options), tokenizer);
}

std::shared_ptr<Dataset> read(const py::handle& path, const py::handle& model) {
  const std::filesystem::path file = path_of(path, "path");
  std::shared_ptr<const io::Tokenizer> tokenizer = tokenizer_of(model);
  data::Dataset dataset = data::read_jsonl(file, tokenizer.get());
  data::check_tokens(dataset, *tokenizer, file.string());
  return std::make_shared<Dataset>(std::move(dataset), tokenizer);
}

std::string_view line(const Dataset& dataset, size_t index) {
  const size_t start = dataset.line_starts[index];
  return std::string_view(dataset.jsonl).substr(start, dataset.jsonl.find('\n', start) - start);
}

size_t checked_index(const Dataset& dataset, int64_t index) {
  const auto size = static_cast<int64_t>(dataset.dataset.examples.size());
  if (index < 0) index += size;
  if (index < 0 || index >= size) throw py::index_error("dataset index out of range");
  return static_cast<size_t>(index);
}

py::array_t<int32_t> tokens_of(const Dataset& dataset, const py::handle& indices) {
  std::vector<size_t> chosen;
  if (indices.is_none()) {
    for (size_t i = 0; i < dataset.dataset.examples.size(); ++i) chosen.push_back(i);
  } else {
    for (const py::handle& index : indices) chosen.push_back(checked_index(dataset, index.cast<int64_t>()));
  }
  if (chosen.empty()) throw Error("tokens: no prompts chosen");
  const size_t positions = dataset.dataset.examples[chosen.front()].tokens.size();
  py::array_t<int32_t> tokens(std::vector<py::ssize_t>{static_cast<py::ssize_t>(chosen.size()),
                                                       static_cast<py::ssize_t>(positions)});
  int32_t* out = tokens.mutable_data();
  for (size_t index : chosen) {
    const auto& ids = dataset.dataset.examples[index].tokens;
    if (ids.size() != positions)
      throw Error("tokens: prompt " + std::to_string(index) + " has " + std::to_string(ids.size()) + " tokens, prompt " +
                      std::to_string(chosen.front()) + " " + std::to_string(positions),
                  "take prompts of one alignment group (groups()), which share their length");
    out = std::copy(ids.begin(), ids.end(), out);
  }
  return tokens;
}

}  // namespace

void bind_dataset(py::module_& module) {
  py::class_<Dataset, std::shared_ptr<Dataset>>(
      module, "Dataset",
      "A task's prompts: a sequence of dicts with the fields of `cscrub dataset`'s JSON Lines (text, tokens, "
      "answer_id, answer_text, distractor_id, distractor_text, positions, features, group, task, seed, generator).")
      .def("__len__", [](const Dataset& dataset) { return dataset.dataset.examples.size(); })
      .def("__getitem__",
           [](const Dataset& dataset, int64_t index) {
             return py::module_::import("json").attr("loads")(py::str(std::string(line(dataset, checked_index(dataset, index)))));
           })
      .def("__iter__",
           [](const py::object& self) {
             py::list examples;
             for (size_t i = 0; i < py::len(self); ++i) examples.append(self[py::int_(i)]);
             return examples.attr("__iter__")();
           })
      .def_property_readonly("task", [](const Dataset& dataset) { return dataset.dataset.schema.task; })
      .def_property_readonly("positions", [](const Dataset& dataset) { return dataset.dataset.schema.positions; },
                             "The named positions' labels (e.g. IO, S1, S1+1, S2, END).")
      .def_property_readonly("features", [](const Dataset& dataset) { return dataset.dataset.schema.features; })
      .def_property_readonly("seed", [](const Dataset& dataset) { return dataset.dataset.seed; })
      .def_property_readonly("generator", [](const Dataset& dataset) { return dataset.dataset.generator; })
      .def(
          "groups",
          [](const Dataset& dataset) {
            py::dict groups;  // in order of first appearance
            for (size_t i = 0; i < dataset.dataset.examples.size(); ++i) {
              const py::str group(dataset.dataset.examples[i].group);
              if (!groups.contains(group)) groups[group] = py::list();
              groups[group].cast<py::list>().append(i);
            }
            return groups;
          },
          "{alignment group: [indices]}: prompts of one group have one length and the same named positions.")
      .def("tokens", &tokens_of, py::arg("indices") = py::none(),
           "The prompts' token ids as int32 [n, pos] (all of them, or those of `indices`); they must share a length.")
      .def("to_jsonl", [](const Dataset& dataset) { return dataset.jsonl; },
           "The JSON Lines `cscrub dataset --out` writes, byte for byte.")
      .def(
          "save",
          [](const Dataset& dataset, const py::handle& path) {
            io::write_file_atomically(path_of(path, "path"), dataset.jsonl);
          },
          py::arg("path"), "Writes to_jsonl() to `path` (what `cscrub run --dataset` and read_dataset read).")
      .def("__repr__", [](const Dataset& dataset) {
        return "Dataset(task='" + dataset.dataset.schema.task + "', " + std::to_string(dataset.dataset.examples.size()) +
               " prompts)";
      });

  module.def("dataset", &make, py::arg("task"), py::arg("n"), py::arg("seed") = 0, py::arg("options") = py::none(),
             py::arg("model") = py::none(),
             "`n` prompts of `task` (ioi, induction, pronoun) drawn with `seed`: the dataset `cscrub dataset TASK --n N "
             "--seed S` writes. `options`: {key: value} as --option key=value; `model`: whose tokenizer (default "
             "model, a path, or a Model).");
  module.def("read_dataset", &read, py::arg("path"), py::arg("model") = py::none(),
             "A dataset saved as JSON Lines (by `cscrub dataset` or Dataset.save, or lines written by hand: datasets/README.md), checked against (or tokenized with) `model`'s tokenizer.");
}

}  // namespace cscrub::python
