// What circuit discovery attributes: a metric of each prompt pair, read at the last position of the clean
// prompt with the clean prompt's labels (as EAP-IG's and MIB's tasks do), and its gradient with respect to the
// logits there. Formulas and sign conventions: engine/logit_metrics.hpp.
//   logit_diff  logit(answer) - logit(distractor)           higher is better
//   prob_diff   p(answer) - p(distractor)                   higher is better
//   kl          KL(clean run's distribution || this run's)  lower is better (0 on the clean run itself)
//   loss        -log p(answer)                              lower is better
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/discover/batches.hpp"
#include "cscrub/engine/forward.hpp"

namespace cscrub::discover {

enum class Metric { logit_diff, prob_diff, kl, loss };

std::string to_string(Metric metric);
std::vector<std::string> metric_names();
// Throws cscrub::Error naming the closest metric.
Metric parse_metric(const std::string& name);
bool higher_is_better(Metric metric);
// In words, for tables: "logit(answer) - logit(distractor)", ...
std::string describe(Metric metric);

// The logits a metric reads for `batch`: the last position of each prompt; for logit_diff only the columns of
// the batch's answers and distractors, for the others the whole vocabulary.
engine::LogitRequest metric_logits(Metric metric, const data::Dataset& labels, const Batch& batch);

// The metric of each prompt of `batch` from `logits` (what metric_logits asked for), labels from `labels`
// (the clean dataset). kl compares with `clean_logits`, the clean prompts' logits over the whole vocabulary
// (one row per prompt); the others ignore it. When `gradient` is given it receives d value / d logits, the
// shape of `logits`. Throws cscrub::Error, naming `run` and the prompt, for logits that are not finite.
std::vector<double> metric_values(Metric metric, const data::Dataset& labels, const Batch& batch,
                                  const engine::LogitRequest& request, const engine::RowMatrix& logits,
                                  const engine::RowMatrix* clean_logits, engine::RowMatrix* gradient,
                                  const std::string& run);

}  // namespace cscrub::discover
