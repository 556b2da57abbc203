// Model: config, tokenizer, and forward passes that read (run_with_cache) and overwrite (run_with_hooks) any
// TransformerLens hook point.
#include "model.hpp"

#include <pybind11/numpy.h>
#include <pybind11/stl.h>

#include "arrays.hpp"
#include "bindings.hpp"
#include "cscrub/app/model_choice.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/model_dir.hpp"
#include "gradients.hpp"
#include "hooks.hpp"
#include "options.hpp"
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
  const std::string kernel = matmul.is_none() ? default_matmul() : text_option(matmul, "matmul");
  const engine::MatmulKernel chosen = app::matmul_kernel_for(kernel);
  model->weights = io::load_weights(model->dir);
  model->weights.matmul = chosen;
  if (std::optional<io::Tokenizer> tokenizer = app::load_tokenizer_if_present(model->dir))
    model->tokenizer = std::make_shared<const io::Tokenizer>(std::move(*tokenizer));
  return model;
}

// Which logits a pass computes: the unembedding is its largest product, and often only the last position's
// are needed.
engine::LogitRequest::Positions logit_positions(const py::handle& logits) {
  if (logits.is_none()) return engine::LogitRequest::Positions::none;
  const std::string which = py::isinstance<py::str>(logits) ? logits.cast<std::string>() : "";
  if (which == "all") return engine::LogitRequest::Positions::all;
  if (which == "last") return engine::LogitRequest::Positions::last;
  throw Error("logits: " + std::string(py::repr(logits)) + " is not 'all', 'last' or None");
}

// The forward pass on `tokens` with `hooks` (may be null), the GIL released while the engine runs; logits
// [batch, pos, vocab] ('all'), [batch, 1, vocab] ('last') or None.
py::object forward(const Model& model, const py::handle& tokens, engine::Interventions* hooks,
                   const py::handle& which = py::str("all")) {
  engine::LogitRequest request;
  request.positions = logit_positions(which);
  const TokenIds ids = token_ids(tokens, model.tokenizer.get());
  const engine::TokenBatch batch{ids.ids, ids.batch, ids.positions};
  engine::check_tokens(model.weights.config, batch);
  engine::RowMatrix logits;
  {
    py::gil_scoped_release released;
    logits = engine::forward(model.weights, batch, request, hooks);
  }
  if (request.positions == engine::LogitRequest::Positions::none) return py::none();
  const int64_t rows = request.positions == engine::LogitRequest::Positions::all ? ids.positions : 1;
  const int64_t shape[] = {ids.batch, rows, model.weights.config.vocab_size};
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

// A read-only float32 view of weights the Model owns (and which the view keeps alive).
py::array weight_view(const std::shared_ptr<Model>& model, const float* data, std::vector<py::ssize_t> shape,
                      std::vector<py::ssize_t> strides) {
  py::array view(py::dtype::of<float>(), std::move(shape), std::move(strides), data, py::cast(model));
  view.attr("flags").attr("writeable") = false;
  return view;
}

py::dict parameters(const std::shared_ptr<Model>& model) {
  py::dict named;
  for (const engine::TensorSlot& slot : engine::tensor_slots(model->weights)) {
    std::vector<py::ssize_t> shape(slot.shape.begin(), slot.shape.end());
    if (!slot.columns.empty()) {  // stored rows scattered over the destination (NeoX's fused qkv): a copy
      py::array_t<float> copy(shape);
      slot.read(std::span<float>(copy.mutable_data(), static_cast<size_t>(copy.size())));
      copy.attr("flags").attr("writeable") = false;
      named[py::str(slot.name)] = std::move(copy);
      continue;
    }
    // A view in the stored layout: [rows, cols] at (r, c) of the destination, or at (c, r) when transposed.
    const py::ssize_t element = sizeof(float), row = static_cast<py::ssize_t>(slot.target_stride) * element;
    std::vector<py::ssize_t> strides{element};
    if (shape.size() == 2) strides = slot.transposed ? std::vector<py::ssize_t>{element, row} : std::vector{row, element};
    named[py::str(slot.name)] = weight_view(model, slot.target, shape, strides);
  }
  return named;
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
      .def("parameters", &parameters,
           "{Hugging Face tensor name: read-only float32 array} (e.g. 'h.0.attn.c_attn.weight' [d_model, 3 d_model], "
           "as stored), viewing the model's weights without a copy (a copy where the weights hold the rows reordered: "
           "GPT-NeoX's fused query_key_value).")
      .def_property_readonly(
          "W_E",
          [](const std::shared_ptr<Model>& model) {
            const engine::RowMatrix& embedding = model->weights.token_embedding;
            return weight_view(model, embedding.data(), {embedding.rows(), embedding.cols()},
                               {static_cast<py::ssize_t>(embedding.cols() * sizeof(float)), sizeof(float)});
          },
          "The token embedding [vocab, d_model] (read-only view).")
      .def_property_readonly(
          "W_U",
          [](const std::shared_ptr<Model>& model) {
            const engine::RowMatrix& embedding = model->weights.token_embedding;  // tied: W_U is its transpose
            return weight_view(model, embedding.data(), {embedding.cols(), embedding.rows()},
                               {sizeof(float), static_cast<py::ssize_t>(embedding.cols() * sizeof(float))});
          },
          "The unembedding [d_model, vocab]: the token embedding transposed (tied), a read-only view; logits = "
          "ln_final.hook_normalized @ W_U.")
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
            for (const engine::HookPoint& hook : engine::all_hook_points(model.weights.config)) names.push_back(engine::hook_name(hook));
            return names;
          },
          "Every hook point's TransformerLens name, in forward order.")
      .def(
          "forward",
          [](const Model& model, const py::handle& tokens, const py::handle& logits) {
            return forward(model, tokens, nullptr, logits);
          },
          py::arg("tokens"), py::arg("logits") = "all",
          "Logits float32 [batch, pos, vocab] of a text, a list of texts or token ids; logits='last' computes only "
          "the last position's ([batch, 1, vocab]: the unembedding is the pass's largest product).")
      .def(
          "__call__",
          [](const Model& model, const py::handle& tokens, const py::handle& logits) {
            return forward(model, tokens, nullptr, logits);
          },
          py::arg("tokens"), py::arg("logits") = "all")
      .def(
          "run_with_cache",
          [](const Model& model, const py::handle& tokens, const py::handle& names, const py::handle& patches,
             const py::handle& logits) {
            PythonHooks hooks(model.weights.config, selected_hooks(names, model.weights.config), patches);
            py::object computed = forward(model, tokens, &hooks, logits);
            return py::make_tuple(computed, hooks.cache());
          },
          py::arg("tokens"), py::arg("names") = py::none(), py::arg("patches") = py::none(),
          py::arg("logits") = "all",
          "(logits [batch, pos, vocab], {hook name: float32 array}): the activations of the hooks `names` selects "
          "(None: all; a name; a list; or a callable name -> bool), in TransformerLens's shapes (hook_z [batch, pos, "
          "head, d_head], hook_pattern [batch, head, query, key], ...), after the `patches` (see run_with_hooks). "
          "logits: 'all', 'last' ([batch, 1, vocab]) or None (not computed).")
      .def(
          "run_with_hooks",
          [](const Model& model, const py::handle& tokens, const py::handle& patches, const py::handle& logits) {
            PythonHooks hooks(model.weights.config, {}, patches);
            return forward(model, tokens, &hooks, logits);
          },
          py::arg("tokens"), py::arg("patches") = py::none(), py::arg("logits") = "all",
          "Logits [batch, pos, vocab] of a forward pass whose hooks `patches` overwrites: {hook name: array} writes "
          "the array (numpy broadcasting) over the activation; {hook name: callable(activation, hook)} edits the "
          "activation (a float32 copy) in place or returns its new value. The pass continues from the result. logits: "
          "'all', 'last' or None, as for forward.")
      .def(
          "gradients",
          [](const Model& model, const py::handle& tokens, const py::handle& metric, const py::handle& answer,
             const py::handle& distractor, const py::handle& reference, const py::handle& logit_grad,
             const py::handle& names, const py::handle& patches) {
            return gradients(model, tokens, metric.is_none() && logit_grad.is_none() ? py::str("logit_diff") : metric,
                             answer, distractor, reference, logit_grad, names, patches);
          },
          py::arg("tokens"), py::arg("metric") = py::none(), py::arg("answer") = py::none(),
          py::arg("distractor") = py::none(), py::arg("reference") = py::none(), py::arg("logit_grad") = py::none(),
          py::arg("names") = py::none(), py::arg("patches") = py::none(),
          "(value, {hook name: float32 gradient}): the backward pass. metric 'logit_diff' (default) or 'prob_diff' "
          "(answer=, distractor=), 'loss' (answer=) or 'kl' (reference= logits [batch, 1, vocab]) of the last "
          "position, summed over the sequences; answer/distractor are a token (id or single-token text) or one per "
          "sequence. Or logit_grad= (d metric / d logits, [batch, pos, vocab] or [batch, 1, vocab]) for any metric: "
          "value is then sum(logit_grad * logits). Gradients have the hooks' shapes (as run_with_cache's); names "
          "selects them (None: every hook the backward reaches: not hook_pattern, hook_attn_scores or the layer "
          "norms'). patches overwrite the embeddings or residual streams before the pass, as in run_with_hooks.")
      .def("__repr__", [](const Model& model) {
        const engine::ModelConfig& config = model.weights.config;
        return "Model('" + model.dir.string() + "', " + std::to_string(config.n_layer) + " layers, " +
               std::to_string(config.n_head) + " heads, d_model " + std::to_string(config.d_model) + ")";
      });
}

}  // namespace cscrub::python
