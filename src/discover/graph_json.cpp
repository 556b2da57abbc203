#include <cmath>
#include <nlohmann/json.hpp>

#include "cscrub/discover/scored_graph.hpp"
#include "cscrub/error.hpp"
#include "cscrub/io/input_file.hpp"
#include "cscrub/io/json_depth.hpp"
#include "cscrub/io/json_excerpt.hpp"
#include "cscrub/io/json_unique_keys.hpp"

namespace cscrub::discover {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;


[[noreturn]] void fail(const std::string& origin, const std::string& message, const std::string& hint = {}) {
  throw Error(origin + ": " + message, hint);
}

const json& member(const json& object, const char* key, const std::string& where, const std::string& origin) {
  if (!object.contains(key)) fail(origin, where + " has no \"" + key + "\"");
  return object.at(key);
}

bool boolean(const json& value, const std::string& where, const std::string& origin) {
  if (!value.is_boolean()) fail(origin, where + ": \"in_graph\" must be true or false, not " + io::json_excerpt(value));
  return value.get<bool>();
}

double finite_number(const json& value, const std::string& where, const std::string& origin) {
  if (!value.is_number()) fail(origin, where + ": \"score\" must be a number, not " + io::json_excerpt(value));
  const double number = value.get<double>();
  if (!std::isfinite(number)) fail(origin, where + ": \"score\" is not finite");
  return number;
}

int shape_field(const json& cfg, const char* key, int minimum, const std::string& origin) {
  const json& value = member(cfg, key, "\"cfg\"", origin);
  if (!value.is_number_integer() || value.get<int64_t>() < minimum || value.get<int64_t>() > (1 << 20))
    fail(origin, "\"cfg\".\"" + std::string(key) + "\" must be an integer >= " + std::to_string(minimum) + ", not " +
                     io::json_excerpt(value));
  return static_cast<int>(value.get<int64_t>());
}

GraphShape parse_shape(const json& cfg, const std::string& origin) {
  if (!cfg.is_object()) fail(origin, "\"cfg\" must be an object, not " + io::json_excerpt(cfg));
  GraphShape shape;
  shape.n_layers = shape_field(cfg, "n_layers", 1, origin);
  shape.n_heads = shape_field(cfg, "n_heads", 1, origin);
  shape.d_model = shape_field(cfg, "d_model", 1, origin);
  // EAP-IG requires the key; graphs of sequential models written by hand may omit it.
  if (cfg.contains("parallel_attn_mlp")) {
    const json& parallel = cfg.at("parallel_attn_mlp");
    if (!parallel.is_boolean())
      fail(origin, "\"cfg\".\"parallel_attn_mlp\" must be true or false, not " + io::json_excerpt(parallel));
    shape.parallel_attn_mlp = parallel.get<bool>();
  }
  if (static_cast<int64_t>(shape.n_layers) * (shape.n_heads + 1) > 4096)
    fail(origin, "\"cfg\" describes " + std::to_string(shape.n_layers) + " layers of " + std::to_string(shape.n_heads) +
                     " heads: far larger than any model cscrub loads");
  return shape;
}

}  // namespace

ScoredGraph::ScoredGraph(EdgeGraph edge_graph)
    : graph(std::move(edge_graph)),
      scores(static_cast<size_t>(graph.edge_count()), 0.0),
      edge_in_graph(static_cast<size_t>(graph.edge_count()), 0),
      node_in_graph(static_cast<size_t>(graph.source_count()), 0) {}

int ScoredGraph::edges_in_graph() const {
  int count = 0;
  for (uint8_t in : edge_in_graph) count += in;
  return count;
}

int ScoredGraph::nodes_in_graph() const {
  int count = 0;
  for (uint8_t in : node_in_graph) count += in;
  return count;
}

std::string to_graph_json(const ScoredGraph& scored) {
  const EdgeGraph& graph = scored.graph;
  const GraphShape& shape = graph.shape();
  ordered_json root;
  root["cfg"] = {{"n_layers", shape.n_layers},
                 {"n_heads", shape.n_heads},
                 {"parallel_attn_mlp", shape.parallel_attn_mlp},
                 {"d_model", shape.d_model}};
  ordered_json nodes = ordered_json::object();
  for (int s = 0; s < graph.source_count(); ++s) {
    ordered_json node = {{"in_graph", scored.node_in_graph[static_cast<size_t>(s)] != 0}};
    if (scored.node_scores) {
      const double score = (*scored.node_scores)[static_cast<size_t>(s)];
      if (!std::isfinite(score)) throw Error("node " + graph.source_name(s) + " has a score that is not finite");
      node["score"] = score;
    }
    nodes[graph.source_name(s)] = std::move(node);
  }
  nodes["logits"] = {{"in_graph", true}};
  root["nodes"] = std::move(nodes);
  ordered_json edges = ordered_json::object();
  for (size_t e = 0; e < graph.edges().size(); ++e) {
    const std::string name = graph.edge_name(graph.edges()[e]);
    if (!std::isfinite(scored.scores[e])) throw Error("edge " + name + " has a score that is not finite");
    edges[name] = {{"score", scored.scores[e]}, {"in_graph", scored.edge_in_graph[e] != 0}};
  }
  root["edges"] = std::move(edges);
  return root.dump() + "\n";
}

ScoredGraph parse_graph_json(std::string_view text, const std::string& origin) {
  io::refuse_deep_json(text, origin);  // a graph file nests 3 levels; its values are compared and copied
  json root;
  std::string duplicate_key;
  try {
    root = io::parse_json_noting_duplicate_keys(text, /*allow_exceptions=*/true, duplicate_key);
  } catch (const json::exception& error) {
    fail(origin, std::string("not valid JSON (") + error.what() + ")");
  }
  if (!duplicate_key.empty()) fail(origin, "key '" + duplicate_key + "' appears twice in one object: which is meant?");
  if (!root.is_object()) fail(origin, "not a JSON object", "a graph file holds {\"cfg\": ..., \"nodes\": ..., \"edges\": ...}");
  ScoredGraph scored{EdgeGraph(parse_shape(member(root, "cfg", "the file", origin), origin))};
  const EdgeGraph& graph = scored.graph;

  const json& nodes = member(root, "nodes", "the file", origin);
  if (!nodes.is_object()) fail(origin, "\"nodes\" must be an object, not " + io::json_excerpt(nodes));
  std::vector<double> node_scores(static_cast<size_t>(graph.source_count()), 0.0);
  std::vector<uint8_t> node_seen(node_scores.size(), 0);
  int scored_nodes = 0;
  for (const auto& [name, node] : nodes.items()) {
    const std::string where = "node \"" + name + "\"";
    if (!node.is_object()) fail(origin, where + " must be an object, not " + io::json_excerpt(node));
    if (name == "logits") continue;  // always in the circuit
    const auto source = graph.find_source(name);
    if (!source) fail(origin, where + " is not a node of a graph of " + std::to_string(graph.shape().n_layers) +
                                  " layers and " + std::to_string(graph.shape().n_heads) + " heads");
    scored.node_in_graph[static_cast<size_t>(*source)] = boolean(member(node, "in_graph", where, origin), where, origin);
    node_seen[static_cast<size_t>(*source)] = 1;
    if (node.contains("score")) {
      node_scores[static_cast<size_t>(*source)] = finite_number(node.at("score"), where, origin);
      ++scored_nodes;
    }
  }
  for (size_t s = 0; s < node_seen.size(); ++s) {
    if (!node_seen[s])
      fail(origin, "node \"" + graph.source_name(static_cast<int>(s)) + "\" is missing from \"nodes\"",
           "a graph file lists every node of the model with its in_graph");
  }
  if (scored_nodes > 0) {
    if (scored_nodes != graph.source_count())
      fail(origin, std::to_string(scored_nodes) + " of " + std::to_string(graph.source_count()) +
                       " nodes have a \"score\": either all or none must");
    scored.node_scores = std::move(node_scores);
  }

  const json& edges = member(root, "edges", "the file", origin);
  if (!edges.is_object()) fail(origin, "\"edges\" must be an object, not " + io::json_excerpt(edges));
  std::vector<uint8_t> seen(scored.scores.size(), 0);
  for (const auto& [name, entry] : edges.items()) {
    const std::string where = "edge \"" + name + "\"";
    const auto edge = graph.find_edge(name);
    if (!edge) fail(origin, where + " is not an edge of a graph of " + std::to_string(graph.shape().n_layers) +
                                " layers and " + std::to_string(graph.shape().n_heads) + " heads",
                    "edges are named PARENT->CHILD or PARENT->CHILD<q|k|v>, e.g. a0.h1->a2.h3<k>, m0->logits");
    if (!entry.is_object()) fail(origin, where + " must be an object, not " + io::json_excerpt(entry));
    const size_t index = static_cast<size_t>(*graph.edge_index(edge->source, edge->destination));
    scored.scores[index] = finite_number(member(entry, "score", where, origin), where, origin);
    scored.edge_in_graph[index] = boolean(member(entry, "in_graph", where, origin), where, origin);
    seen[index] = 1;
  }
  for (size_t e = 0; e < seen.size(); ++e) {
    if (!seen[e])
      fail(origin, "edge \"" + graph.edge_name(graph.edges()[e]) + "\" is missing (the file lists " +
                       std::to_string(edges.size()) + " of the graph's " + std::to_string(graph.edge_count()) + " edges)",
           "a graph file lists every edge of the model, each with its score and in_graph");
  }
  return scored;
}

ScoredGraph read_graph_json(const std::filesystem::path& path) {
  return parse_graph_json(io::read_input_file(path, io::input_limits::graph_json), path.string());
}

void check_graph_matches(const ScoredGraph& scored, const GraphShape& shape, const std::string& origin) {
  const GraphShape& own = scored.graph.shape();
  if (own == shape) return;
  auto describe = [](const GraphShape& s) {
    return std::to_string(s.n_layers) + " layers, " + std::to_string(s.n_heads) + " heads, d_model " +
           std::to_string(s.d_model) + (s.parallel_attn_mlp ? ", parallel attention and MLP" : "");
  };
  throw Error(origin + ": the graph is for a model of " + describe(own) + ", not this model's " + describe(shape));
}

}  // namespace cscrub::discover
