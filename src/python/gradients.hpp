// Model.gradients: the backward pass from Python (gradients.cpp).
#pragma once
#include <pybind11/pybind11.h>

#include "model.hpp"

namespace cscrub::python {

// (metric value summed over the sequences, {hook name: gradient float32 array in the hook's shape}). `metric`
// 'logit_diff' | 'prob_diff' | 'loss' (with `answer`, and `distractor` for the differences) | 'kl' (against
// `reference` logits) reads the last position; or `logit_grad` (d metric / d logits, [batch, pos, vocab] or
// [batch, 1, vocab]) differentiates sum(logit_grad * logits). `names` selects hooks as run_with_cache does
// (None: every hook the backward reaches); `patches` overwrite the embeddings or residual streams first.
pybind11::tuple gradients(const Model& model, const pybind11::handle& tokens, const pybind11::handle& metric,
                          const pybind11::handle& answer, const pybind11::handle& distractor,
                          const pybind11::handle& reference, const pybind11::handle& logit_grad,
                          const pybind11::handle& names, const pybind11::handle& patches);

}  // namespace cscrub::python
