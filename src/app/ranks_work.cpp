#include "cscrub/app/ranks_work.hpp"

#include <chrono>
#include <exception>
#include <string_view>

#include "cscrub/error.hpp"

namespace cscrub::app {
namespace {

// The first key (a path into the JSON) at which `mine` differs from `theirs`.
std::string first_difference(const nlohmann::json& mine, const nlohmann::json& theirs, const std::string& at) {
  if (mine.is_object() && theirs.is_object()) {
    for (const auto& [key, value] : mine.items()) {
      if (!theirs.contains(key)) return at + "/" + key;
      if (value != theirs[key]) return first_difference(value, theirs[key], at + "/" + key);
    }
    return at;
  }
  if (mine.is_array() && theirs.is_array() && mine.size() == theirs.size()) {
    for (size_t i = 0; i < mine.size(); ++i)
      if (mine[i] != theirs[i]) return first_difference(mine[i], theirs[i], at + "/" + std::to_string(i));
  }
  return at;
}

}  // namespace

void check_same_inputs(const parallel::Ranks& ranks, const nlohmann::json& provenance) {
  if (ranks.size() == 1) return;
  const std::string root = ranks.broadcast(provenance.dump());
  ranks.together([&] {
    const nlohmann::json theirs = nlohmann::json::parse(root);
    if (theirs == provenance) return;
    const std::string where = first_difference(provenance, theirs, "");
    throw Error("the inputs this rank read differ from rank 0's (provenance" + where + ": " +
                    provenance.value(nlohmann::json::json_pointer(where), nlohmann::json()).dump() + " here, " +
                    theirs.value(nlohmann::json::json_pointer(where), nlohmann::json()).dump() + " on rank 0)",
                "every rank must see the same files: put the inputs on a file system all machines share");
  });
}

std::optional<scrub::ExperimentResult> run_experiment_on(const parallel::Ranks& ranks,
                                                         const PreparedExperiment& prepared,
                                                         const scrub::ExperimentProgress& progress) {
  const scrub::ExperimentUnits units = ranks.together([&] {
    return scrub::ExperimentUnits(prepared.weights, prepared.dataset, prepared.hypotheses, prepared.baseline,
                                  prepared.settings);
  });
  const parallel::Block mine = ranks.share(units.count());
  const std::string values = ranks.together([&] {
    return units.scrub(mine.begin, mine.end, [&](const std::string& stage, int done, int total) {
      if (stage == "scrubbing" && done == 1) ranks.fault_point("scrubbing");  // midway: one unit's seed done
      if (progress) progress(stage, done, total);
    });
  });
  std::string all;  // every unit's values, in unit order: the ranks' blocks in rank order
  ranks.gather_to_root(values, [&](int, std::string_view bytes) { all.append(bytes); });
  return ranks.together([&]() -> std::optional<scrub::ExperimentResult> {
    if (!ranks.root()) return std::nullopt;
    return units.finish(all);
  });
}

std::optional<EdgeDiscoveryRun> run_edge_discovery_on(const parallel::Ranks& ranks,
                                                      const PreparedEdgeDiscovery& prepared,
                                                      const discover::Progress& progress) {
  const engine::Weights weights = ranks.together([&] { return load_edge_discovery_weights(prepared); });
  const auto started = std::chrono::steady_clock::now();
  const discover::EdgeAttributionUnits units =
      ranks.together([&] { return discover::EdgeAttributionUnits(weights.config, prepared.pairs, prepared.settings); });
  const parallel::Block mine = ranks.share(units.count());
  const std::string scores = ranks.together([&] {
    return units.attribute(weights, mine.begin, mine.end, [&](int done, int total) {
      if (done == 1) ranks.fault_point("attributing");  // midway: the first pass done
      if (progress) progress(done, total);
    });
  });
  discover::EdgeAttributionSum sum(units);
  std::exception_ptr failure;  // rank 0 receives every rank's scores before it reports a failure
  ranks.gather_to_root(scores, [&](int, std::string_view bytes) {
    try {
      if (!failure) sum.add(bytes);
    } catch (...) {
      failure = std::current_exception();
    }
  });
  return ranks.together([&]() -> std::optional<EdgeDiscoveryRun> {
    if (failure) std::rethrow_exception(failure);
    if (!ranks.root()) return std::nullopt;
    return finish_edge_discovery(
        prepared, sum.result(), std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  });
}

std::string ranks_phrase(const parallel::Ranks& ranks) {
  return ranks.size() > 1 ? " on " + std::to_string(ranks.size()) + " MPI ranks" : "";
}

}  // namespace cscrub::app
