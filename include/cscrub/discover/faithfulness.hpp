// Faithfulness curves as MIB's evaluation computes them (Mueller et al. 2025, evaluate_area_under_curve): for
// circuits of the top n edges of a score file (n = int(fraction x edges), each circuit pruned), at a grid of
// sizes, the normalized faithfulness (m(C) - m(empty)) / (m(model) - m(empty)), where m is the metric's mean
// over pairs with every edge outside C ablated (circuit_evaluation.hpp), m(model) the clean model's and
// m(empty) the circuit without edges. Two areas over the sizes (a linear axis of fractions, trapezoids):
// MIB's CPR (the area under the curve; higher is better) and CMD (the area under |1 - faithfulness|; 0 is best).
#pragma once
#include <vector>

#include "cscrub/discover/batches.hpp"
#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/circuit_selection.hpp"

namespace cscrub::discover {

// MIB's grid: 0.1%, 0.2%, 0.5%, 1%, 2%, 5%, 10%, 20%, 50%, 100% of the edges.
std::vector<double> mib_sizes();
// Throws cscrub::Error unless `sizes` are increasing fractions in (0, 1].
void check_sizes(const std::vector<double>& sizes);

struct CircuitPoint {
  double fraction = 0;   // of the graph's edges
  int requested = 0;     // int(fraction x edges), as MIB counts
  int edges = 0;         // in the circuit after pruning
  double metric = 0;     // m(C)
  double faithfulness = 0;
};

struct FaithfulnessCurve {
  Ranking ranking = Ranking::absolute;
  bool greedy = false;  // circuits grown greedily from the logits (EAP-IG's apply_greedy) instead of top-n
  std::vector<CircuitPoint> points;
  double area_under = 0;     // MIB's CPR when the ranking puts important edges first by signed score
  double area_from_one = 0;  // MIB's CMD when the ranking is absolute
};

struct FaithfulnessReference {
  double model = 0;  // m(model)
  double empty = 0;  // m(empty circuit)
};

// The curve of one score file for each ranking (one evaluation pass over the pairs for all of them, the empty
// circuit included). Throws cscrub::Error if the model and the empty circuit score the same (no normalization).
std::vector<FaithfulnessCurve> faithfulness_curves(CircuitEvaluator& evaluator, const ScoredGraph& scores,
                                                   const std::vector<double>& sizes, const std::vector<Ranking>& rankings,
                                                   bool greedy, FaithfulnessReference& reference,
                                                   const Progress& progress = {});

// faithfulness_curves in its steps, for sharing the circuits' evaluations among processes: the circuits of one
// score file (the empty one, then each ranking's sizes) with the curves' points to fill;
struct CurveCircuits {
  std::vector<FaithfulnessCurve> curves;         // points with their sizes, metrics to come
  std::vector<std::vector<uint8_t>> circuits;    // edge marks: the empty circuit, then each curve's points in order
};
CurveCircuits faithfulness_circuits(const ScoredGraph& scores, const std::vector<double>& sizes,
                                    const std::vector<Ranking>& rankings, bool greedy);
// and the curves from every circuit's per-pair metric (values[c] for circuits[c], CircuitEvaluator::per_pair) and
// the clean model's mean. Throws cscrub::Error as faithfulness_curves does.
std::vector<FaithfulnessCurve> finish_curves(CurveCircuits circuits, const std::vector<std::vector<double>>& values,
                                             double clean_mean, const std::vector<double>& sizes,
                                             FaithfulnessReference& reference);

// The trapezoidal areas over `sizes` (as MIB: x from the first size to the last, not from 0).
double area_under(const std::vector<double>& sizes, const std::vector<double>& values);
double area_from_one(const std::vector<double>& sizes, const std::vector<double>& values);

}  // namespace cscrub::discover
