// One hypothesis file: TOML -> FileSpec. Checks syntax, keys and the type and form of every value; names
// (nodes, heads in range, features, positions) are checked later, against the resolved hypothesis, the
// model and the task.
#include <algorithm>

#include "cscrub/error.hpp"
#include "cscrub/data/toml_guard.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/io/input_file.hpp"
#include "hypothesis_spec.hpp"
#include "suggestions.hpp"
#include "toml_reader.hpp"

namespace cscrub::graph::spec {

namespace {

const std::vector<std::string> kTopKeys = {"name", "description", "extends", "model", "defaults",
                                           "nodes", "output", "edit", "remove"};
const std::vector<std::string> kModelKeys = {"name", "layers", "heads"};
const std::vector<std::string> kDefaultsKeys = {"task", "metric", "n", "seeds"};
const std::vector<std::string> kNodeKeys = {"class", "description", "heads", "mlps", "embed", "positions",
                                            "feature", "rest", "parents", "replace"};
const std::vector<std::string> kOutputKeys = {"description", "positions", "feature", "rest", "parents", "replace"};
const std::vector<std::string> kEditKeys = {"class", "description", "heads", "mlps", "embed", "positions",
                                            "feature", "rest", "parents", "add_parents", "remove_parents"};
const std::vector<std::string> kEditOutputKeys = {"description", "positions", "feature", "rest",
                                                  "parents", "add_parents", "remove_parents"};
const std::vector<std::string> kParentKeys = {"node", "ports"};
const std::vector<std::string> kRemoveKeys = {"nodes", "edges"};
const std::vector<std::string> kEdgeKeys = {"from", "to"};

// "9-9", "9,9", "9 9", "L9H9": digits, something else, digits -> "9.9".
std::string repaired_head(std::string_view text) {
  std::string digits[2];
  int group = -1;
  bool in_digits = false;
  for (char c : text) {
    bool digit = c >= '0' && c <= '9';
    if (digit && !in_digits && ++group > 1) return {};
    if (digit) digits[group] += c;
    in_digits = digit;
  }
  if (group != 1) return {};
  return digits[0] + "." + digits[1];
}

// The elements of a component list (`heads`, `mlps`): an array, or one value standing alone; never empty.
std::vector<const toml::node*> listed_elements(const TableReader& reader, const std::string& key) {
  const toml::node* value = reader.get(key);
  std::vector<const toml::node*> elements;
  if (value->is_array()) {
    for (const toml::node& element : *value->as_array()) elements.push_back(&element);
  } else {
    elements.push_back(value);
  }
  if (elements.empty())
    reader.fail(reader.where(*value), "in " + reader.context() + ": '" + key + "' is an empty list",
                "omit the key instead");
  return elements;
}

std::vector<Component> read_heads(const TableReader& reader) {
  std::vector<Component> heads;
  for (const toml::node* element : listed_elements(reader, "heads")) {
    if (element->is_floating_point() || element->is_integer())
      reader.fail(reader.where(*element),
                  "in " + reader.context() + ": heads are strings \"LAYER.HEAD\", not " + describe(*element),
                  "quote them: heads = [\"9.9\", \"10.10\"] (a bare 10.10 is the number 10.1)");
    if (!element->is_string()) reader.fail_type("heads", *element, "an array of strings like \"9.9\"");
    const std::string& text = element->as_string()->get();
    auto head = parse_head(text);
    if (!head) {
      std::string repaired = repaired_head(text);
      reader.fail(reader.where(*element),
                  "in " + reader.context() + ": \"" + text + "\" is not a head: heads are written \"LAYER.HEAD\"" +
                      (repaired.empty() ? std::string(", e.g. \"9.9\"") : " (did you mean '" + repaired + "'?)"));
    }
    if (std::find(heads.begin(), heads.end(), *head) != heads.end())
      reader.fail(reader.where(*element), "in " + reader.context() + ": head " + text + " is listed twice");
    heads.push_back(*head);
  }
  return heads;
}

std::vector<Component> read_mlps(const TableReader& reader) {
  std::vector<Component> mlps;
  for (const toml::node* element : listed_elements(reader, "mlps")) {
    if (!element->is_integer() || element->as_integer()->get() < 0 || element->as_integer()->get() > (1 << 20))
      reader.fail_type("mlps", *element, "a list of layer numbers (integers >= 0), e.g. mlps = [0, 1]");
    Component mlp = mlp_component(static_cast<int>(element->as_integer()->get()));
    if (std::find(mlps.begin(), mlps.end(), mlp) != mlps.end())
      reader.fail(reader.where(*element), "in " + reader.context() + ": " + to_string(mlp) + " is listed twice");
    mlps.push_back(mlp);
  }
  return mlps;
}

PositionSpec read_positions(const TableReader& reader) {
  const toml::node* value = reader.get("positions");
  std::vector<const toml::node*> elements;
  if (value->is_array()) {
    for (const toml::node& element : *value->as_array()) elements.push_back(&element);
  } else {
    elements.push_back(value);
  }
  PositionSpec positions;
  for (const toml::node* element : elements) {
    if (element->is_string()) {
      const std::string& label = element->as_string()->get();
      if (std::find(positions.labels.begin(), positions.labels.end(), label) != positions.labels.end())
        reader.fail(reader.where(*element), "in " + reader.context() + ": position '" + label + "' is listed twice");
      positions.labels.push_back(label);
    } else if (element->is_integer() && element->as_integer()->get() >= 0 && element->as_integer()->get() < (1 << 20)) {
      int index = static_cast<int>(element->as_integer()->get());
      if (std::find(positions.indices.begin(), positions.indices.end(), index) != positions.indices.end())
        reader.fail(reader.where(*element),
                    "in " + reader.context() + ": position " + std::to_string(index) + " is listed twice");
      positions.indices.push_back(index);
    } else {
      reader.fail_type("positions", *element, "position labels (e.g. \"END\") or token indices (integers >= 0)");
    }
  }
  return positions;
}

std::vector<Port> read_ports(const TableReader& reader, const toml::table& parent, const std::string& what) {
  TableReader entry(parent, what, reader.file());
  auto names = entry.strings("ports");
  std::vector<Port> ports;
  if (!names) return ports;
  for (const Located& name : *names) {
    auto port = parse_port(name.text);
    if (!port)
      reader.fail(name.where,
                  "in " + reader.context() + ": unknown port '" + name.text + "'" + did_you_mean(name.text, port_names()),
                  "heads read through ports q, k and v; MLPs and the output through 'in'");
    if (std::find(ports.begin(), ports.end(), *port) != ports.end())
      reader.fail(name.where, "in " + reader.context() + ": port '" + name.text + "' is listed twice");
    ports.push_back(*port);
  }
  return ports;
}

// parents = ["a", { node = "b", ports = ["k", "v"] }]
std::vector<ParentRef> read_parent_list(const TableReader& reader, std::string_view key) {
  const toml::node* value = reader.get(key);
  std::vector<const toml::node*> elements;
  if (value->is_array()) {
    for (const toml::node& element : *value->as_array()) elements.push_back(&element);
  } else {
    elements.push_back(value);
  }
  std::vector<ParentRef> parents;
  for (const toml::node* element : elements) {
    ParentRef parent;
    parent.where = reader.where(*element);
    if (element->is_string()) {
      parent.node = element->as_string()->get();
    } else if (element->is_table()) {
      TableReader entry(*element->as_table(), reader.context() + " " + std::string(key) + " entry", reader.file());
      entry.allow_only(kParentKeys);
      auto node = entry.string("node");
      if (!node) entry.fail(parent.where, "in " + reader.context() + ": a parent entry needs node = \"NAME\"");
      parent.node = *node;
      parent.ports = read_ports(reader, *element->as_table(), entry.context());
    } else {
      reader.fail_type(key, *element, "node names or { node = \"NAME\", ports = [\"k\", \"v\"] } entries");
    }
    for (const ParentRef& earlier : parents)
      if (earlier.node == parent.node)
        reader.fail(parent.where, "in " + reader.context() + ": parent '" + parent.node + "' is listed twice",
                    "list a parent once, with all the ports it feeds: { node = \"" + parent.node + "\", ports = [\"k\", \"v\"] }");
    parents.push_back(std::move(parent));
  }
  return parents;
}

InterpNode::Rest read_rest(const TableReader& reader) {
  std::string rest = *reader.string("rest");
  if (rest == "random") return InterpNode::Rest::random;
  if (rest == "same") return InterpNode::Rest::same;
  reader.fail(reader.where("rest"),
              "in " + reader.context() + ": rest must be \"random\" or \"same\", not \"" + rest + "\"" +
                  did_you_mean(rest, {"random", "same"}));
}

// The keys a [nodes.X], [output] and [edit.X] table share.
NodeSpec read_node(const TableReader& reader, std::string name) {
  NodeSpec node;
  node.name = std::move(name);
  node.where = reader.where();
  node.node_class = reader.string("class");
  node.description = reader.string("description");
  node.replace = reader.boolean("replace").value_or(false);
  for (const char* key : {"embed", "heads", "mlps"}) {
    if (reader.has(key)) {
      node.components_where = reader.where(key);
      break;
    }
  }
  if (reader.has("heads")) node.heads = read_heads(reader);
  if (reader.has("mlps")) node.mlps = read_mlps(reader);
  node.embed = reader.boolean("embed");
  if (reader.has("positions")) {
    node.positions = read_positions(reader);
    node.positions_where = reader.where("positions");
  }
  if (auto feature = reader.strings("feature")) {
    node.feature.emplace();
    for (const Located& name : *feature) {
      if (std::find(node.feature->begin(), node.feature->end(), name.text) != node.feature->end())
        reader.fail(name.where, "in " + reader.context() + ": feature '" + name.text + "' is listed twice");
      node.feature->push_back(name.text);
    }
    node.feature_where = reader.where("feature");
  }
  if (reader.has("rest")) node.rest = read_rest(reader);
  if (reader.has("parents")) node.parents = read_parent_list(reader, "parents");
  if (reader.has("add_parents")) node.add_parents = read_parent_list(reader, "add_parents");
  if (auto names = reader.strings("remove_parents")) {
    for (const Located& name : *names) node.remove_parents.push_back({name.text, name.where});
  }
  return node;
}

// The sub-tables of [nodes] or [edit], in the order the file writes them (toml++ sorts keys).
std::vector<std::pair<std::string, const toml::table*>> tables_in_file_order(const TableReader& reader,
                                                                              std::string_view key) {
  const toml::table* parent = reader.subtable(key);
  std::vector<std::pair<std::string, const toml::table*>> tables;
  if (parent == nullptr) return tables;
  TableReader group(*parent, std::string("[").append(key).append("]"), reader.file());
  for (auto&& [name, value] : *parent) {
    if (!value.is_table())
      group.fail(group.where(name),
                 std::string(key) + "." + std::string(name.str()) + " must be a table ([" + std::string(key) + "." +
                     std::string(name.str()) + "]), not " + describe(value));
    tables.emplace_back(std::string(name.str()), value.as_table());
  }
  auto line_of = [](const toml::table* table) {
    return std::make_pair(table->source().begin.line, table->source().begin.column);
  };
  std::stable_sort(tables.begin(), tables.end(),
                   [&](const auto& a, const auto& b) { return line_of(a.second) < line_of(b.second); });
  return tables;
}

void read_model(const TableReader& root, FileSpec& spec) {
  const toml::table* model = root.subtable("model");
  if (model == nullptr) return;
  TableReader reader(*model, "[model]", root.file());
  reader.allow_only(kModelKeys);
  reader.string("name");  // informational; checked for type only
  spec.model_layers = reader.positive_integer("layers");
  spec.model_heads = reader.positive_integer("heads");
  spec.model_where = reader.where();
}

void read_defaults(const TableReader& root, FileSpec& spec) {
  const toml::table* defaults = root.subtable("defaults");
  if (defaults == nullptr) return;
  TableReader reader(*defaults, "[defaults]", root.file());
  reader.allow_only(kDefaultsKeys);
  spec.task = reader.string("task");
  spec.task_where = reader.where("task");
  spec.metric = reader.string("metric");
  spec.n = reader.positive_integer("n");
  spec.seeds = reader.positive_integer("seeds");
}

void read_remove(const TableReader& root, FileSpec& spec) {
  const toml::table* remove = root.subtable("remove");
  if (remove == nullptr) return;
  TableReader reader(*remove, "[remove]", root.file());
  reader.allow_only(kRemoveKeys);
  spec.remove_where = reader.where();
  if (auto nodes = reader.strings("nodes")) {
    for (const Located& name : *nodes) spec.remove_nodes.push_back({name.text, name.where});
  }
  if (const toml::array* edges = reader.array("edges")) {
    for (const toml::node& element : *edges) {
      if (!element.is_table()) reader.fail_type("edges", element, "an array of { from = \"A\", to = \"B\" }");
      TableReader edge(*element.as_table(), "[remove] edges entry", root.file());
      edge.allow_only(kEdgeKeys);
      auto from = edge.string("from");
      auto to = edge.string("to");
      if (!from || !to)
        reader.fail(reader.where(element), "in [remove]: an edge needs both from = \"PARENT\" and to = \"CHILD\"");
      spec.remove_edges.push_back({*from, *to, reader.where(element)});
    }
  }
}

// An array or table of more than kMaxHypothesisEntries entries, anywhere in the file: hypotheses are small
// (the IOI paper's circuit has 10 nodes and 26 heads), and their checks compare entries and nodes pairwise.
void refuse_oversized(const toml::node& node, const std::string& file) {
  const auto refuse = [&](size_t size, const char* what) {
    if (size > kMaxHypothesisEntries)
      throw Error(location_of(node.source(), file).to_string() + ": " + what + " of " + std::to_string(size) +
                  " entries, more than " + std::to_string(kMaxHypothesisEntries) + " (the limit)");
  };
  if (const toml::array* array = node.as_array()) {
    refuse(array->size(), "an array");
    for (const toml::node& element : *array) refuse_oversized(element, file);  // nesting is bounded by the guard
  } else if (const toml::table* table = node.as_table()) {
    refuse(table->size(), "a table");
    for (auto&& [key, value] : *table) refuse_oversized(value, file);
  }
}

}  // namespace

FileSpec read_file_spec(const std::filesystem::path& file) {
  return parse_file_spec(io::read_input_file(file, io::input_limits::hypothesis), file);
}

FileSpec parse_file_spec(std::string_view text, const std::filesystem::path& file) {
  const std::string file_name = file.string();
  data::refuse_what_toml_cannot_read(text, file_name);
  toml::table root;
  try {
    root = toml::parse(text, file_name);
  } catch (const toml::parse_error& error) {
    throw Error(location_of(error.source(), file_name).to_string() + ": TOML syntax error: " +
                std::string(error.description()));
  }
  refuse_oversized(root, file_name);

  FileSpec spec;
  spec.file = file;
  TableReader reader(root, "the top level", file_name);
  reader.allow_only(kTopKeys);
  spec.name = reader.string("name");
  spec.description = reader.string("description");
  if (auto extends = reader.string("extends")) spec.extends = NameRef{*extends, reader.where("extends")};
  read_model(reader, spec);
  read_defaults(reader, spec);
  read_remove(reader, spec);

  for (const auto& [name, table] : tables_in_file_order(reader, "nodes")) {
    TableReader node(*table, "[nodes." + name + "]", file_name);
    node.allow_only(kNodeKeys);
    spec.nodes.push_back(read_node(node, name));
  }
  if (const toml::table* output = reader.subtable("output")) {
    TableReader node(*output, "[output]", file_name);
    node.allow_only(kOutputKeys);
    spec.output = read_node(node, "output");
  }
  for (const auto& [name, table] : tables_in_file_order(reader, "edit")) {
    TableReader node(*table, "[edit." + name + "]", file_name);
    node.allow_only(name == "output" ? kEditOutputKeys : kEditKeys);
    spec.edits.push_back(read_node(node, name));
  }
  return spec;
}

}  // namespace cscrub::graph::spec
