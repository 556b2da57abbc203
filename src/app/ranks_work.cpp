#include "cscrub/app/ranks_work.hpp"

#include <chrono>
#include <cmath>
#include <cstring>
#include <exception>
#include <filesystem>
#include <string_view>

#include "cscrub/error.hpp"
#include "cscrub/io/sha256.hpp"

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

nlohmann::json pairs_fingerprint(const discover::PairedDataset& pairs, const std::string& model_dir) {
  std::string bytes;
  for (const data::Dataset* side : {&pairs.clean, &pairs.corrupted})
    for (const data::Example& example : side->examples) {
      for (int32_t token : example.tokens) bytes += std::to_string(token) + ',';
      bytes += std::to_string(example.answer) + ',' + std::to_string(example.distractor) + '\n';
    }
  const std::filesystem::path checkpoint = std::filesystem::path(model_dir) / "model.safetensors";
  std::error_code error;
  const uintmax_t size = std::filesystem::file_size(checkpoint, error);
  return {{"pairs_sha256", io::sha256_text(bytes)}, {"model_bytes", error ? 0 : size}};
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

namespace {

// EAP and EAP-IG: the pairs shared in blocks (discover::EdgeAttributionUnits), summed on rank 0 in pair order.
std::optional<EdgeDiscoveryRun> attribute_on(const parallel::Ranks& ranks, const engine::Weights& weights,
                                             const PreparedEdgeDiscovery& prepared, const discover::Progress& progress) {
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
    return EdgeDiscoveryRun{.attribution = sum.result()};
  });
}

// Exact patching: the destinations dealt out in turn (rank r scores the edges into destinations r, r + K, ...: a
// destination's edges cost more the later its layer, so turns balance the ranks better than blocks). Each edge's
// score is its own mean over the pairs, computed whole on one rank; rank 0 places them and measures the means.
std::optional<EdgeDiscoveryRun> patch_on(const parallel::Ranks& ranks, const engine::Weights& weights,
                                         const PreparedEdgeDiscovery& prepared, const discover::Progress& progress) {
  const discover::EdgeGraph graph(discover::graph_shape(weights.config));
  const auto owner = [&](int destination) { return destination % ranks.size(); };
  std::vector<int> mine;
  for (int destination = 0; destination < graph.destination_count(); ++destination)
    if (owner(destination) == ranks.rank()) mine.push_back(destination);
  const std::string scores = ranks.together([&] {
    std::string bytes;
    if (mine.empty()) return bytes;  // more ranks than destinations
    const EdgeDiscoveryRun part = score_by_patching(weights, prepared, [&](int done, int total) {
      if (done == 1) ranks.fault_point("patching");
      if (progress) progress(done, total);
    }, mine);
    for (size_t e = 0; e < graph.edges().size(); ++e)
      if (owner(graph.edges()[e].destination) == ranks.rank())
        bytes.append(reinterpret_cast<const char*>(&part.attribution.graph.scores[e]), sizeof(double));
    return bytes;
  });
  std::vector<double> all(graph.edges().size(), std::nan(""));
  std::vector<size_t> received(static_cast<size_t>(ranks.size()), 0);
  ranks.gather_to_root(scores, [&](int rank, std::string_view bytes) {
    size_t at = 0;
    for (size_t e = 0; e < graph.edges().size() && at + sizeof(double) <= bytes.size(); ++e)
      if (owner(graph.edges()[e].destination) == rank) {
        std::memcpy(&all[e], bytes.data() + at, sizeof(double));
        at += sizeof(double);
      }
    received[static_cast<size_t>(rank)] = at;
  });
  return ranks.together([&]() -> std::optional<EdgeDiscoveryRun> {
    if (!ranks.root()) return std::nullopt;
    size_t arrived = 0;
    for (size_t bytes : received) arrived += bytes;
    if (arrived != sizeof(double) * graph.edges().size()) throw Error("the scores of some edges did not arrive (an internal error)");
    EdgeDiscoveryRun run{.attribution = {.graph = discover::ScoredGraph(graph),
                                         .pairs = static_cast<int>(prepared.pairs.clean.examples.size())}};
    run.attribution.graph.scores = std::move(all);
    run.exact_cost = discover::exact_patching_cost(weights.config, graph, prepared.pairs,
                                                   {.metric = prepared.settings.metric,
                                                    .batch_size = prepared.settings.batch_size});
    measure_means(weights, prepared, run);
    return run;
  });
}

}  // namespace

std::optional<EdgeDiscoveryRun> run_edge_discovery_on(const parallel::Ranks& ranks,
                                                      const PreparedEdgeDiscovery& prepared,
                                                      const discover::Progress& progress) {
  ranks.together([&] {
    if (prepared.method == DiscoveryMethod::acdc && ranks.size() > 1)
      throw Error("--method acdc does not share its work among MPI ranks: each edge's test depends on the edges "
                  "removed before it",
                  "run ACDC as one process, without mpirun or srun");
  });
  const engine::Weights weights = ranks.together([&] { return load_edge_discovery_weights(prepared); });
  const auto started = std::chrono::steady_clock::now();
  std::optional<EdgeDiscoveryRun> run;
  switch (prepared.method) {
    case DiscoveryMethod::eap:
    case DiscoveryMethod::eap_ig: run = attribute_on(ranks, weights, prepared, progress); break;
    case DiscoveryMethod::exact: run = patch_on(ranks, weights, prepared, progress); break;
    case DiscoveryMethod::acdc:
      run = ranks.together([&] {
        EdgeDiscoveryRun acdc = score_by_patching(weights, prepared, progress);
        measure_means(weights, prepared, acdc);
        return acdc;
      });
      break;
  }
  return ranks.together([&]() -> std::optional<EdgeDiscoveryRun> {
    if (!run) return std::nullopt;
    run->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return finish_edge_discovery(prepared, std::move(*run));
  });
}

std::string ranks_phrase(const parallel::Ranks& ranks) {
  return ranks.size() > 1 ? " on " + std::to_string(ranks.size()) + " MPI ranks" : "";
}

}  // namespace cscrub::app
