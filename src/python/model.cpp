// Model: config, tokenizer, and forward passes that read (run_with_cache) and overwrite (run_with_hooks) any
// TransformerLens hook point.
#include "model.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include <cstdlib>

#include "arrays.hpp"
#include "bindings.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "hooks.hpp"
#include "paths.hpp"

namespace py = pybind11;

namespace cscrub::python {

const io::Tokenizer& Model::require_tokenizer(const char* for_what) const {
  if (!tokenizer)
    throw Error(std::string(for_what) + " needs a tokenizer, and " + dir.string() + " has none",
                "add tokenizer.json, or vocab.json + merges.txt (or encoder.json + vocab.bpe) to the model directory");
  return *tokenizer;
}

namespace {

std::shared_ptr<Model> load_model(const py::object& path, const py::object& matmul) {
  auto model = std::make_shared<Model>();
  model->dir = path.is_none() ? io::default_model_dir() : path_of(path, "path");
  std::string kernel = "auto";
  if (!matmul.is_none()) kernel = matmul.cast<std::string>();
  else if (const char* from_environment = std::getenv("CSCRUB_MATMUL"); from_environment && *from_environment)
    kernel = from_environment;
  const engine::MatmulKernel chosen = app::matmul_kernel_for(kernel);
  model->weights = io::load_weights(model->dir);
  model->weights.matmul = chosen;
  if (std::optional<io::Tokenizer> tokenizer = app::load_tokenizer_if_present(model->dir))
    model->tokenizer = std::make_shared<const io::Tokenizer>(std::move(*tokenizer));
  return model;
}

// The forward pass on `tokens` with `hooks` (may be null), the GIL released while the engine runs; logits
// [batch, pos, vocab].
py::array_t<float> forward(const Model& model, const py::handle& tokens, engine::Interventions* hooks) {
  const TokenIds ids = token_ids(tokens, model.tokenizer.get());
  const engine::TokenBatch batch{ids.ids, ids.batch, ids.positions};
  engine::check_tokens(model.weights.config, batch);
  engine::RowMatrix logits;
  {
    py::gil_scoped_release released;
    logits = engine::forward(model.weights, batch, engine::LogitRequest{}, hooks);
  }
  const int64_t shape[] = {ids.batch, ids.positions, model.weights.config.vocab_size};
  return owning_array(std::move(logits), shape);
}

py::object to_string(const Model& model, const py::handle& tokens) {
  const io::Tokenizer& tokenizer = model.require_tokenizer("to_string");
  const TokenIds ids = token_ids(tokens, nullptr);
  auto decode = [&](std::span<const int32_t> sequence) {
    for (int32_t id : sequence)
      if (id >= tokenizer.vocab_size())
        throw Error("to_string: token id " + std::to_string(id) + " is beyond the tokenizer's " +
                    std::to_string(tokenizer.vocab_size()) + " tokens");
    return text_of(tokenizer.decode(sequence));
  };
  const bool batched = py::isinstance<py::int_>(tokens) ? false : py::module_::import("numpy").attr("ndim")(tokens).cast<int>() == 2;
  if (!batched) return decode(ids.ids);
  py::list texts;
  for (int b = 0; b < ids.batch; ++b)
    texts.append(decode(std::span<const int32_t>(ids.ids).subspan(static_cast<size_t>(b) * ids.positions,
                                                                   static_cast<size_t>(ids.positions))));
  return texts;
}

void bind_config(py::module_& module) {
  using engine::ModelConfig;
  py::class_<ModelConfig>(module, "Config",
                          "A model's shape, from its config.json: attributes, or items like a dict (config['n_layer']).")
      .def_readonly("n_layer", &ModelConfig::n_layer)
      .def_readonly("n_head", &ModelConfig::n_head)
      .def_readonly("d_model", &ModelConfig::d_model)
      .def_property_readonly("d_head", &ModelConfig::d_head)
      .def_readonly("d_mlp", &ModelConfig::d_mlp)
      .def_readonly("n_ctx", &ModelConfig::n_ctx)
      .def_readonly("vocab_size", &ModelConfig::vocab_size)
      .def_readonly("layer_norm_epsilon", &ModelConfig::layer_norm_epsilon)
      // How the families differ (engine/config.hpp): model_type, parallel blocks, rotary dimensions.
      .def_property_readonly("model_type", [](const ModelConfig& config) { return std::string(engine::to_string(config.family)); })
      .def_readonly("parallel_attn_mlp", &ModelConfig::parallel_attn_mlp)
      .def_readonly("rotary_dims", &ModelConfig::rotary_dims)
      .def_readonly("rotary_base", &ModelConfig::rotary_base)
      // TransformerLens's names for the same numbers.
      .def_readonly("n_layers", &ModelConfig::n_layer)
      .def_readonly("n_heads", &ModelConfig::n_head)
      .def_readonly("d_vocab", &ModelConfig::vocab_size)
      .def("keys",
           [](const ModelConfig&) {
             return std::vector<std::string>{"n_layer", "n_head", "d_model", "d_head", "d_mlp", "n_ctx", "vocab_size",
                                             "layer_norm_epsilon"};
           })
      .def("to_dict",
           [](const py::object& self) {
             py::dict values;
             for (const py::handle& key : self.attr("keys")()) values[key] = self.attr(key);
             return values;
           })
      .def("__getitem__",
           [](const py::object& self, const std::string& key) {
             if (!py::hasattr(self, key.c_str()) || key.starts_with("_")) throw py::key_error(key);
             return self.attr(key.c_str());
           })
      .def("__repr__", [](const py::object& self) {
        std::string text = "Config(";
        bool first = true;
        for (const py::handle& key : self.attr("keys")()) {
          text += (first ? "" : ", ") + key.cast<std::string>() + "=" + std::string(py::repr(self.attr(key)));
          first = false;
        }
        return text + ")";
      });
}

}  // namespace

void bind_model(py::module_& module) {
  bind_hook_point(module);
  bind_config(module);
  py::class_<Model, std::shared_ptr<Model>>(module, "Model",
                                            "A GPT-2 model directory (config.json, model.safetensors, tokenizer "
                                            "files), loaded once; Hugging Face semantics (no folded layer norms).")
      .def(py::init(&load_model), py::arg("path") = py::none(), py::arg("matmul") = py::none(),
           "Loads `path` (default: $CSCRUB_MODEL, else the bundled model). `matmul`: the products' kernel, 'auto' "
           "(the fastest here), 'fp32-fma' or 'amx-split-bf16' (default: $CSCRUB_MATMUL, else 'auto').")
      .def_property_readonly("path", [](const Model& model) { return model.dir.string(); })
      .def_property_readonly("config", [](const Model& model) { return model.weights.config; })
      .def_property_readonly("cfg", [](const Model& model) { return model.weights.config; },
                             "The same as config (TransformerLens's name).")
      .def_property_readonly("matmul", [](const Model& model) { return engine::to_string(model.weights.matmul); })
      .def(
          "tokenize",
          [](const Model& model, const std::string& text) {
            std::vector<int32_t> ids = model.require_tokenizer("tokenize").encode(text);
            const int64_t shape[] = {static_cast<int64_t>(ids.size())};
            py::array_t<int32_t> array(std::vector<py::ssize_t>(shape, shape + 1));
            std::copy(ids.begin(), ids.end(), array.mutable_data());
            return array;
          },
          py::arg("text"), "GPT-2's token ids of `text` (no BOS added), int32 [pos].")
      .def("to_string", &to_string, py::arg("tokens"),
           "The text of token ids: one id or [pos] gives a str, [batch, pos] a list of str.")
      .def(
          "to_str_tokens",
          [](const Model& model, const py::handle& tokens) {
            const io::Tokenizer& tokenizer = model.require_tokenizer("to_str_tokens");
            py::list texts;
            for (int32_t id : token_ids(tokens, &tokenizer).ids) {
              if (id >= tokenizer.vocab_size()) throw Error("to_str_tokens: token id " + std::to_string(id) + " is beyond the vocabulary");
              texts.append(text_of(tokenizer.token_text(id)));
            }
            return texts;
          },
          py::arg("tokens"), "Each token's text, for a text or token ids (flattened).")
      .def(
          "hook_names",
          [](const Model& model) {
            std::vector<std::string> names;
            for (const engine::HookPoint& hook : hook_points(model.weights.config)) names.push_back(engine::hook_name(hook));
            return names;
          },
          "Every hook point's TransformerLens name, in forward order.")
      .def(
          "forward", [](const Model& model, const py::handle& tokens) { return forward(model, tokens, nullptr); },
          py::arg("tokens"), "Logits float32 [batch, pos, vocab] of a text, a list of texts or token ids.")
      .def(
          "__call__", [](const Model& model, const py::handle& tokens) { return forward(model, tokens, nullptr); },
          py::arg("tokens"))
      .def(
          "run_with_cache",
          [](const Model& model, const py::handle& tokens, const py::handle& names, const py::handle& patches) {
            PythonHooks hooks(model.weights.config, selected_hooks(names, model.weights.config), patches);
            py::array_t<float> logits = forward(model, tokens, &hooks);
            return py::make_tuple(logits, hooks.cache());
          },
          py::arg("tokens"), py::arg("names") = py::none(), py::arg("patches") = py::none(),
          "(logits [batch, pos, vocab], {hook name: float32 array}): the activations of the hooks `names` selects "
          "(None: all; a name; a list; or a callable name -> bool), in TransformerLens's shapes (hook_z [batch, pos, "
          "head, d_head], hook_pattern [batch, head, query, key], ...), after the `patches` (see run_with_hooks).")
      .def(
          "run_with_hooks",
          [](const Model& model, const py::handle& tokens, const py::handle& patches) {
            PythonHooks hooks(model.weights.config, {}, patches);
            return forward(model, tokens, &hooks);
          },
          py::arg("tokens"), py::arg("patches") = py::none(),
          "Logits [batch, pos, vocab] of a forward pass whose hooks `patches` overwrites: {hook name: array} writes "
          "the array (numpy broadcasting) over the activation; {hook name: callable(activation, hook)} edits the "
          "activation (a float32 copy) in place or returns its new value. The pass continues from the result.")
      .def("__repr__", [](const Model& model) {
        const engine::ModelConfig& config = model.weights.config;
        return "Model('" + model.dir.string() + "', " + std::to_string(config.n_layer) + " layers, " +
               std::to_string(config.n_head) + " heads, d_model " + std::to_string(config.d_model) + ")";
      });
}

}  // namespace cscrub::python
