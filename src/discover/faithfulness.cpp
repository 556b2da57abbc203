#include "cscrub/discover/faithfulness.hpp"

#include <cmath>

#include "cscrub/error.hpp"

namespace cscrub::discover {

std::vector<double> mib_sizes() { return {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0}; }

void check_sizes(const std::vector<double>& sizes) {
  if (sizes.empty()) throw Error("no circuit sizes given");
  for (size_t i = 0; i < sizes.size(); ++i) {
    if (!(sizes[i] > 0.0 && sizes[i] <= 1.0))
      throw Error("circuit size " + std::to_string(sizes[i]) + " is not a fraction of the edges in (0, 1]",
                  "e.g. --sizes 0.01,0.1,1");
    if (i > 0 && sizes[i] <= sizes[i - 1])
      throw Error("circuit sizes must increase (" + std::to_string(sizes[i - 1]) + " then " + std::to_string(sizes[i]) + ")");
  }
}

double area_under(const std::vector<double>& sizes, const std::vector<double>& values) {
  double area = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i) area += (sizes[i + 1] - sizes[i]) * (values[i] + values[i + 1]) / 2;
  return area;
}

double area_from_one(const std::vector<double>& sizes, const std::vector<double>& values) {
  double area = 0;
  for (size_t i = 0; i + 1 < sizes.size(); ++i)
    area += (sizes[i + 1] - sizes[i]) * (std::abs(1.0 - values[i]) + std::abs(1.0 - values[i + 1])) / 2;
  return area;
}

CurveCircuits faithfulness_circuits(const ScoredGraph& scores, const std::vector<double>& sizes,
                                    const std::vector<Ranking>& rankings, bool greedy) {
  check_sizes(sizes);
  const int edges = scores.graph.edge_count();
  CurveCircuits result;
  result.circuits.emplace_back(static_cast<size_t>(edges), 0);  // the empty one
  for (Ranking ranking : rankings) {
    FaithfulnessCurve curve{.ranking = ranking, .greedy = greedy, .points = {}, .area_under = 0, .area_from_one = 0};
    for (double fraction : sizes) {
      ScoredGraph circuit = scores;
      const int requested = static_cast<int>(fraction * edges);
      if (greedy)
        select_greedy(circuit, requested, ranking);
      else
        select_top(circuit, requested, ranking);
      curve.points.push_back({.fraction = fraction, .requested = requested, .edges = circuit.edges_in_graph(),
                              .metric = 0, .faithfulness = 0});
      result.circuits.push_back(std::move(circuit.edge_in_graph));
    }
    result.curves.push_back(std::move(curve));
  }
  return result;
}

std::vector<FaithfulnessCurve> finish_curves(CurveCircuits circuits, const std::vector<std::vector<double>>& values,
                                             double clean_mean, const std::vector<double>& sizes,
                                             FaithfulnessReference& reference) {
  reference = {.model = clean_mean, .empty = mean_of(values.front())};
  const double span = reference.model - reference.empty;
  if (span == 0.0)
    throw Error("the model and the empty circuit have the same mean metric (" + std::to_string(reference.model) +
                    "): faithfulness normalizes by their difference",
                "the corrupted prompts must change the model's behaviour");
  size_t next = 1;
  for (FaithfulnessCurve& curve : circuits.curves) {
    std::vector<double> faithfulness;
    for (CircuitPoint& point : curve.points) {
      point.metric = mean_of(values[next++]);
      point.faithfulness = (point.metric - reference.empty) / span;
      faithfulness.push_back(point.faithfulness);
    }
    curve.area_under = area_under(sizes, faithfulness);
    curve.area_from_one = area_from_one(sizes, faithfulness);
  }
  return std::move(circuits.curves);
}

std::vector<FaithfulnessCurve> faithfulness_curves(CircuitEvaluator& evaluator, const ScoredGraph& scores,
                                                   const std::vector<double>& sizes, const std::vector<Ranking>& rankings,
                                                   bool greedy, FaithfulnessReference& reference,
                                                   const Progress& progress) {
  CurveCircuits circuits = faithfulness_circuits(scores, sizes, rankings, greedy);
  const std::vector<std::vector<double>> values = evaluator.per_pair(circuits.circuits, progress);
  return finish_curves(std::move(circuits), values, evaluator.clean_mean(), sizes, reference);
}

}  // namespace cscrub::discover
