// Model.gradients: the engine's backward pass from Python. A metric of the last position's logits (the ones
// discovery attributes) or any linear function of the logits the caller gives as d metric / d logits, and its
// gradient with respect to every hook point the backward reaches, by TransformerLens name and shape.
#include "gradients.hpp"

#include <pybind11/numpy.h>

#include <cmath>

#include "arrays.hpp"
#include "cscrub/engine/backward.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/logit_metrics.hpp"
#include "cscrub/error.hpp"
#include "hooks.hpp"

namespace py = pybind11;

namespace cscrub::python {
namespace {

namespace metrics = engine::logit_metrics;

enum class Metric { logit_diff, prob_diff, loss, kl, given };

Metric metric_named(const py::handle& metric, const py::handle& logit_grad) {
  if (!logit_grad.is_none()) {
    if (!metric.is_none())
      throw Error("gradients: give metric= or logit_grad=, not both",
                  "logit_grad is d metric / d logits of a metric computed outside cscrub");
    return Metric::given;
  }
  const std::string name = py::isinstance<py::str>(metric) ? metric.cast<std::string>() : "";
  if (name == "logit_diff") return Metric::logit_diff;
  if (name == "prob_diff") return Metric::prob_diff;
  if (name == "loss") return Metric::loss;
  if (name == "kl") return Metric::kl;
  throw Error("gradients: metric " + std::string(py::repr(metric)) +
                  " is not 'logit_diff', 'prob_diff', 'loss' or 'kl'",
              "or give logit_grad= (d metric / d logits) for a metric of your own");
}

// One token id per sequence: an int or a single-token string for all, or a sequence of `batch` of them.
std::vector<int64_t> label_ids(const py::handle& labels, const char* what, int batch, const Model& model) {
  if (labels.is_none()) throw Error(std::string("gradients: this metric needs ") + what + "=");
  auto one = [&](const py::handle& label) -> int64_t {
    if (py::isinstance<py::str>(label)) {
      const std::vector<int32_t> ids = model.require_tokenizer("gradients").encode(label.cast<std::string>());
      if (ids.size() != 1)
        throw Error(std::string("gradients: ") + what + " " + std::string(py::repr(label)) + " is " +
                        std::to_string(ids.size()) + " tokens, not one",
                    "give a single token's text (GPT-2 names usually start with a space), or its id");
      return ids[0];
    }
    const TokenIds id = token_ids(label, nullptr);
    if (id.ids.size() != 1) throw Error(std::string("gradients: ") + what + ": give one token per sequence");
    if (id.ids[0] >= model.weights.config.vocab_size)
      throw Error(std::string("gradients: ") + what + " token id " + std::to_string(id.ids[0]) + " is outside the vocabulary");
    return id.ids[0];
  };
  if (py::isinstance<py::str>(labels) || py::isinstance<py::int_>(labels)) return std::vector<int64_t>(batch, one(labels));
  if (!py::isinstance<py::iterable>(labels))
    throw Error(std::string("gradients: ") + what + ": give a token (id or text) or one per sequence");
  std::vector<int64_t> ids;
  for (const py::handle& label : labels) ids.push_back(one(label));
  if (std::ssize(ids) != batch)
    throw Error(std::string("gradients: ") + what + " has " + std::to_string(ids.size()) + " tokens for " +
                std::to_string(batch) + " sequences");
  return ids;
}

// A float array of exactly `rows` x `columns` finite values (any leading shape that multiplies out), as a
// RowMatrix.
engine::RowMatrix matrix_of(const py::handle& values, const char* what, int64_t rows, int64_t columns,
                            const std::string& expected_shape) {
  const auto array = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(values);
  if (!array || array.size() != rows * columns)
    throw Error(std::string("gradients: ") + what + " must have shape " + expected_shape +
                (array ? ", not " + std::string(py::str(py::tuple(array.attr("shape")))) : std::string()));
  engine::RowMatrix matrix(rows, columns);
  std::copy_n(array.data(), rows * columns, matrix.data());
  if (!matrix.allFinite()) throw Error(std::string("gradients: ") + what + " holds values that are not finite");
  return matrix;
}

std::set<engine::HookPoint> gradient_hooks(const py::handle& names, const engine::ModelConfig& config) {
  std::set<engine::HookPoint> hooks = selected_hooks(names, config);
  if (names.is_none()) {
    std::erase_if(hooks, [](const engine::HookPoint& hook) { return !engine::has_gradient(hook.site); });
    return hooks;
  }
  for (const engine::HookPoint& hook : hooks)
    if (!engine::has_gradient(hook.site))
      throw Error("gradients: " + engine::hook_name(hook) + " has no gradient here",
                  "the backward reaches the embeddings, residual streams, each head's inputs, q/k/v, z, result, "
                  "attn_out and the MLP's hooks; hook_pattern, hook_attn_scores and the layer norms' hooks are "
                  "recomputed, not differentiated");
  return hooks;
}

}  // namespace

py::tuple gradients(const Model& model, const py::handle& tokens, const py::handle& metric,
                    const py::handle& answer, const py::handle& distractor, const py::handle& reference,
                    const py::handle& logit_grad, const py::handle& names, const py::handle& patches) {
  const engine::ModelConfig& config = model.weights.config;
  const Metric chosen = metric_named(metric, logit_grad);
  const TokenIds ids = token_ids(tokens, model.tokenizer.get());
  const engine::TokenBatch batch{ids.ids, ids.batch, ids.positions};
  engine::check_tokens(config, batch);
  const int64_t vocab = config.vocab_size;

  engine::LogitRequest request;
  request.positions = engine::LogitRequest::Positions::last;
  engine::RowMatrix given;
  if (chosen == Metric::given) {
    // [batch, pos, vocab] is d metric / d every position's logits; [batch, 1, vocab] the last position's.
    const auto array = py::array::ensure(logit_grad);
    const bool every_position = array && array.ndim() == 3 && array.shape(1) == ids.positions && ids.positions > 1;
    if (every_position) request.positions = engine::LogitRequest::Positions::all;
    const int64_t rows = static_cast<int64_t>(ids.batch) * (every_position ? ids.positions : 1);
    given = matrix_of(logit_grad, "logit_grad", rows, vocab,
                      "[batch, pos, vocab] or [batch, 1, vocab] = [" + std::to_string(ids.batch) + ", " +
                          std::to_string(ids.positions) + " or 1, " + std::to_string(vocab) + "]");
  }
  std::vector<int64_t> answers, distractors;
  if (chosen == Metric::logit_diff || chosen == Metric::prob_diff || chosen == Metric::loss)
    answers = label_ids(answer, "answer", ids.batch, model);
  if (chosen == Metric::logit_diff || chosen == Metric::prob_diff)
    distractors = label_ids(distractor, "distractor", ids.batch, model);
  engine::RowMatrix reference_logits;
  if (chosen == Metric::kl) {
    if (reference.is_none()) throw Error("gradients: metric 'kl' needs reference= (logits [batch, 1, vocab] or [batch, vocab])");
    reference_logits = matrix_of(reference, "reference", ids.batch, vocab,
                                 "[batch, 1, vocab] or [batch, vocab] = [" + std::to_string(ids.batch) + ", " +
                                     std::to_string(vocab) + "]");
  }

  PythonHooks forward_patches(config, {}, patches);
  PythonHooks recorded(config, gradient_hooks(names, config), py::none());
  engine::RowMatrix logits;
  engine::BackwardTape tape;
  double value = 0;
  {
    py::gil_scoped_release released;
    engine::forward_for_backward(model.weights, batch, request, logits, tape,
                                 patches.is_none() ? nullptr : &forward_patches);
    // The metric, summed over the sequences, and its gradient with respect to the logits (double precision).
    engine::RowMatrix logit_gradient = chosen == Metric::given ? std::move(given) : engine::RowMatrix(logits.rows(), logits.cols());
    for (Eigen::Index row = 0; row < logits.rows(); ++row) {
      const std::span<const float> row_logits(logits.row(row).data(), static_cast<size_t>(vocab));
      const std::span<float> row_gradient(logit_gradient.row(row).data(), static_cast<size_t>(vocab));
      for (float logit : row_logits)
        if (!std::isfinite(logit)) throw Error("gradients: the model's logits are not finite for sequence " + std::to_string(row / (logits.rows() / ids.batch)));
      switch (chosen) {
        case Metric::given:
          for (size_t v = 0; v < row_logits.size(); ++v) value += static_cast<double>(row_gradient[v]) * row_logits[v];
          break;
        case Metric::logit_diff:
          value += metrics::logit_difference(row_logits, answers[row], distractors[row]);
          metrics::logit_difference_gradient(answers[row], distractors[row], row_gradient);
          break;
        case Metric::prob_diff: {
          const metrics::LogitRow scored = metrics::with_log_normaliser(row_logits);
          value += metrics::probability_difference(scored, answers[row], distractors[row]);
          metrics::probability_difference_gradient(scored, answers[row], distractors[row], row_gradient);
          break;
        }
        case Metric::loss: {
          const metrics::LogitRow scored = metrics::with_log_normaliser(row_logits);
          value += metrics::cross_entropy(scored, answers[row]);
          metrics::cross_entropy_gradient(scored, answers[row], row_gradient);
          break;
        }
        case Metric::kl: {
          const metrics::LogitRow scored = metrics::with_log_normaliser(row_logits);
          const metrics::LogitRow target = metrics::with_log_normaliser(
              std::span<const float>(reference_logits.row(row).data(), static_cast<size_t>(vocab)));
          value += metrics::kl_divergence(target, scored);
          metrics::kl_divergence_gradient(target, scored, row_gradient);
          break;
        }
      }
    }
    engine::backward(model.weights, tape, request, logit_gradient, &recorded);
  }
  return py::make_tuple(value, recorded.cache());
}

}  // namespace cscrub::python
