#include "cscrub/discover/acdc.hpp"

#include <cmath>

#include "cscrub/discover/circuit_evaluation.hpp"
#include "cscrub/discover/circuit_selection.hpp"
#include "cscrub/error.hpp"

namespace cscrub::discover {

uint64_t acdc_bytes(const engine::ModelConfig& config, const PairedDataset& pairs, const AcdcOptions& options) {
  return circuit_evaluation_bytes(config, pairs, CircuitAblation::counterfactual, options.metric, options.batch_size,
                                  /*resident=*/true);
}

AcdcResult acdc(const engine::Weights& weights, const EdgeGraph& graph, const PairedDataset& pairs,
                const AcdcOptions& options, const Progress& progress) {
  if (!(options.threshold >= 0.0))  // also refuses NaN
    throw Error("ACDC's threshold must be a number >= 0 (or inf), not " + std::to_string(options.threshold));
  CircuitEvaluator evaluator(weights, graph, pairs, CircuitAblation::counterfactual, options.metric, options.batch_size,
                             /*resident=*/true);
  AcdcResult result{.graph = ScoredGraph(graph)};
  std::vector<uint8_t>& circuit = result.graph.edge_in_graph;
  std::fill(circuit.begin(), circuit.end(), 1);
  result.model_metric = evaluator.clean_mean();
  double current = result.model_metric;

  // Whether a source still has an edge in the circuit (its children are all visited before it).
  auto has_outgoing = [&](int source) {
    for (int d = 0; d < graph.destination_count(); ++d)
      if (graph.is_edge(source, d) && circuit[static_cast<size_t>(*graph.edge_index(source, d))]) return true;
    return false;
  };
  int visited = 0;
  for (int destination = graph.destination_count() - 1; destination >= 0; --destination) {
    const std::optional<int> owner = graph.owner(destination);
    const bool alive = !owner || has_outgoing(*owner);
    for (int source = graph.readable_sources(destination) - 1; source >= 0; --source) {
      const auto edge = static_cast<size_t>(*graph.edge_index(source, destination));
      circuit[edge] = 0;
      if (alive) {
        const double measured = evaluator.mean(circuit);
        const double change = measured - current;
        result.graph.scores[edge] = change;
        ++result.tried;
        if (std::abs(change) <= options.threshold)
          current = measured;
        else
          circuit[edge] = 1;
      }
      if (progress) progress(++visited, graph.edge_count());
    }
  }
  result.kept = result.graph.edges_in_graph();
  result.final_metric = current;
  prune(result.graph);
  result.pruned_metric = evaluator.mean(result.graph.edge_in_graph);
  return result;
}

}  // namespace cscrub::discover
