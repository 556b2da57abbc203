#include "cscrub/app/result_text.hpp"

#include <fmt/format.h>

#include <cmath>

namespace cscrub::app {
namespace {

std::string class_sentence(const std::string& recovery_class) {
  if (recovery_class == "more than the model")
    return "scrubbing gives more of the behaviour than the model itself: parts that work against it are missing from "
           "the claim, or the claimed parts' effects cancel in the model";
  if (recovery_class == "nearly all") return "it accounts for nearly all of the behaviour";
  if (recovery_class == "much") return "it accounts for much of the behaviour, but parts of the mechanism are missing or wrong";
  if (recovery_class == "a large part missing") return "it misses a large part of the mechanism";
  return "it explains little of the behaviour: the claimed features or components are not what the model uses";
}

std::string metric_words(scrub::Metric metric) {
  switch (metric) {
    case scrub::Metric::logit_diff: return "logit difference";
    case scrub::Metric::loss: return "loss";
    case scrub::Metric::kl: return "KL divergence";
    case scrub::Metric::accuracy: return "accuracy";
  }
  return "metric";
}

}  // namespace

std::string recovery_class(double recovered) {
  if (std::isnan(recovered)) return "undefined";
  if (recovered > 1.1) return "more than the model";
  if (recovered >= 0.9) return "nearly all";
  if (recovered >= 0.6) return "much";
  if (recovered >= 0.3) return "a large part missing";
  return "little";
}

std::string verdict(const scrub::Estimate& recovered) {
  const std::string low = recovery_class(recovered.low), high = recovery_class(recovered.high);
  if (low == high) return class_sentence(low);
  return fmt::format("the interval runs from '{}' to '{}', so these prompts and seeds cannot tell how much it accounts "
                     "for; use more prompts (--n) or seeds (--seeds)",
                     low, high);
}

std::string recovery_phrase(scrub::Metric metric, double recovered) {
  const double percent = 100 * recovered;
  switch (metric) {
    case scrub::Metric::logit_diff:
    case scrub::Metric::accuracy:
      return fmt::format("keeps {:.1f}% of the model's {} above the baseline's (higher is better)", percent,
                         metric_words(metric));
    case scrub::Metric::loss:
      return fmt::format("closes {:.1f}% of the gap between the baseline's loss and the model's (lower is better)", percent);
    case scrub::Metric::kl:
      return fmt::format("removes {:.1f}% of the baseline's KL divergence from the model's next-token distribution "
                         "(the model's own is 0)",
                         percent);
  }
  return "";
}

std::string undefined_sentence(const scrub::Recoverable& recoverable) {
  return "undefined: the model and the baseline do not differ on these prompts (" + recoverable.reason +
         "), so there is nothing to recover and no percentage";
}

std::string meaning_paragraph(const scrub::ExperimentResult& result, const scrub::HypothesisScore& score) {
  if (!result.recoverable.defined)
    return fmt::format("What it means: % recovered is {}. Choose a task or metric on which the model does what the "
                       "baseline does not, or a baseline that breaks the behaviour.\n",
                       undefined_sentence(result.recoverable));
  return fmt::format(
      "What it means: replacing every activation the hypothesis calls unimportant with that of a random prompt,\n"
      "and every claimed feature with that of a prompt agreeing on it,\n{} (95% interval {:.1f}% to {:.1f}%):\n{}.\n",
      recovery_phrase(result.metric, score.recovered.value), 100 * score.recovered.low, 100 * score.recovered.high,
      verdict(score.recovered));
}

}  // namespace cscrub::app
