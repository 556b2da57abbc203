#include "cscrub/discover/graph_provenance.hpp"

#include <nlohmann/json.hpp>

#include "cscrub/error.hpp"

namespace cscrub::discover {

std::string to_graph_json(const ScoredGraph& graph, const GraphProvenance& provenance) {
  nlohmann::ordered_json root = nlohmann::ordered_json::parse(to_graph_json(graph));
  root["cscrub"] = {{"method", provenance.method},   {"metric", provenance.metric},
                    {"higher_is_better", provenance.higher_is_better}, {"task", provenance.task},
                    {"corruption", provenance.corruption}, {"pairs", provenance.pairs},
                    {"command", provenance.command}};
  return root.dump() + "\n";
}

std::optional<GraphProvenance> parse_graph_provenance(std::string_view text, const std::string& origin) {
  const nlohmann::json root = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!root.is_object() || !root.contains("cscrub")) return std::nullopt;
  const nlohmann::json& record = root.at("cscrub");
  auto fail = [&](const std::string& problem) -> GraphProvenance {
    throw Error(origin + ": \"cscrub\" " + problem, "it records what made the scores; remove it, or let cscrub write it");
  };
  if (!record.is_object()) return fail("must be an object");
  GraphProvenance provenance;
  auto text_field = [&](const char* key, std::string& into) {
    if (!record.contains(key)) return;
    if (!record.at(key).is_string()) fail(std::string("\"") + key + "\" must be a string");
    into = record.at(key).get<std::string>();
  };
  text_field("method", provenance.method);
  text_field("metric", provenance.metric);
  text_field("task", provenance.task);
  text_field("corruption", provenance.corruption);
  text_field("command", provenance.command);
  if (record.contains("higher_is_better")) {
    if (!record.at("higher_is_better").is_boolean()) fail("\"higher_is_better\" must be true or false");
    provenance.higher_is_better = record.at("higher_is_better").get<bool>();
  }
  if (record.contains("pairs")) {
    if (!record.at("pairs").is_number_integer() || record.at("pairs").get<int64_t>() < 0 ||
        record.at("pairs").get<int64_t>() > (int64_t{1} << 30))
      fail("\"pairs\" must be a count");
    provenance.pairs = static_cast<int>(record.at("pairs").get<int64_t>());
  }
  return provenance;
}

}  // namespace cscrub::discover
