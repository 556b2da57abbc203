// The sentences under a result: what % recovered means for the metric (higher- or lower-is-better), and
// a verdict that claims no more than the 95% interval supports.
#pragma once
#include <string>

#include "cscrub/scrub/experiment.hpp"
#include "cscrub/scrub/metrics.hpp"

namespace cscrub::app {

// The verdict's class of a % recovered: "undefined" (NaN), "more than the model" (above 110%), "nearly all"
// (90% to 110%), "much" (60% to 90%), "a large part missing" (30% to 60%), "little" (below 30%).
std::string recovery_class(double recovered);

// The verdict for an interval: its class when both ends fall in the same one, otherwise a sentence saying
// the interval spans several and more prompts or seeds are needed to tell.
std::string verdict(const scrub::Estimate& recovered);

// "keeps 98.4% of the model's logit difference above the baseline's" or, for lower-is-better metrics,
// "closes 98.4% of the gap between the baseline's loss and the model's" / "removes 98.4% of the baseline's
// KL divergence from the model's outputs".
std::string recovery_phrase(scrub::Metric metric, double recovered);

// "What it means: ..." for one hypothesis, or the undefined-recovery sentence.
std::string meaning_paragraph(const scrub::ExperimentResult& result, const scrub::HypothesisScore& score);

// "undefined: the model and the baseline do not differ on these prompts (model - baseline = ...)".
std::string undefined_sentence(const scrub::Recoverable& recoverable);

}  // namespace cscrub::app
