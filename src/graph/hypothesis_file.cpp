// Resolving a hypothesis file's extends chain: the base file's nodes, then each variant's [remove],
// new or replaced [nodes.X] / [output], and [edit.X], in that order; finally node names -> indices.
#include "cscrub/graph/hypothesis_file.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <system_error>

#include "cscrub/error.hpp"
#include "cscrub/graph/component_id.hpp"
#include "hypothesis_spec.hpp"
#include "suggestions.hpp"

namespace cscrub::graph {

namespace {

using spec::FileSpec;
using spec::NodeSpec;
using spec::ParentRef;

[[noreturn]] void fail(const SourceLocation& where, const std::string& message, const std::string& hint = {}) {
  throw Error(where.to_string() + ": " + message, hint);
}

struct DraftNode {
  InterpNode node;
  std::vector<ParentRef> parents;
};

struct Draft {
  Hypothesis header;  // everything but nodes, edges and output_node
  std::vector<DraftNode> nodes;
  std::optional<DraftNode> output;
  std::string base_file;  // the file of the hypothesis being extended, for messages
  std::vector<std::string> files;  // the file read, then the files it extends, in order

 private:
  // Name -> position in `nodes` (the first, as a search would find it): nodes are looked up by name once per
  // definition, edit and removal, which a scan made quadratic in their number.
  std::map<std::string, size_t, std::less<>> index_;

 public:

  std::vector<std::string> names() const {
    std::vector<std::string> names;
    for (const DraftNode& node : nodes) names.push_back(node.node.name);
    if (output) names.push_back("output");
    return names;
  }

  DraftNode* find(const std::string& name) {
    if (name == "output") return output ? &*output : nullptr;
    const auto found = index_.find(name);
    return found == index_.end() ? nullptr : &nodes[found->second];
  }

  void add(DraftNode node, const SourceLocation& where) {
    if (nodes.size() >= kMaxHypothesisEntries)
      fail(where, "more than " + std::to_string(kMaxHypothesisEntries) + " nodes (the limit)");
    index_.emplace(node.node.name, nodes.size());
    nodes.push_back(std::move(node));
  }

  // Removes the nodes named in `names` and their edges, in one pass (one pass per name was quadratic).
  void remove(const std::set<std::string, std::less<>>& names) {
    std::erase_if(nodes, [&](const DraftNode& node) { return names.contains(node.node.name); });
    const auto removed = [&](const ParentRef& parent) { return names.contains(parent.node); };
    for (DraftNode& node : nodes) std::erase_if(node.parents, removed);
    if (output) std::erase_if(output->parents, removed);
    index_.clear();
    for (size_t i = 0; i < nodes.size(); ++i) index_.emplace(nodes[i].node.name, i);
  }

  DraftNode& existing(const std::string& name, const SourceLocation& where, const std::string& context) {
    DraftNode* node = find(name);
    if (node == nullptr)
      fail(where, context + ": no node '" + name + "' in " + (base_file.empty() ? "this hypothesis" : base_file) +
                      did_you_mean(name, names()));
    return *node;
  }
};

// Each components key replaces only the components of its kind; the result is ordered embed, heads, MLPs.
void apply_components(InterpNode& node, const NodeSpec& spec) {
  if (!spec.embed && !spec.heads && !spec.mlps) return;
  auto of_kind = [&](Component::Kind kind) {
    std::vector<Component> kept;
    for (const Component& component : node.components)
      if (component.kind == kind) kept.push_back(component);
    return kept;
  };
  std::vector<Component> components;
  if (spec.embed.value_or(!of_kind(Component::Kind::embed).empty())) components.push_back(embed_component());
  auto heads = spec.heads ? *spec.heads : of_kind(Component::Kind::head);
  auto mlps = spec.mlps ? *spec.mlps : of_kind(Component::Kind::mlp);
  components.insert(components.end(), heads.begin(), heads.end());
  components.insert(components.end(), mlps.begin(), mlps.end());
  node.components = std::move(components);
  node.components_location = spec.components_where;
}

// The keys of a [nodes.X] / [output] / [edit.X] table applied to `draft` (new or existing).
void apply_keys(DraftNode& draft, const NodeSpec& spec) {
  InterpNode& node = draft.node;
  if (spec.node_class) node.node_class = *spec.node_class;
  if (spec.description) node.description = *spec.description;
  apply_components(node, spec);
  if (spec.positions) {
    node.positions = *spec.positions;
    node.positions_location = spec.positions_where;
  }
  if (spec.feature) {
    node.feature = *spec.feature;
    node.feature_location = spec.feature_where;
  }
  if (spec.rest) node.rest = *spec.rest;
  if (spec.parents) draft.parents = *spec.parents;
}

DraftNode define_node(const NodeSpec& spec, const std::string& context) {
  DraftNode draft;
  draft.node.name = spec.name;
  draft.node.location = spec.where;
  draft.node.components_location = spec.where;
  draft.node.positions_location = spec.where;
  draft.node.feature_location = spec.where;
  apply_keys(draft, spec);
  if (!spec.feature)
    fail(spec.where, context + " has no feature: say what the node computes, e.g. feature = \"io_name\"",
         "feature = \"prompt\" claims it depends on the whole prompt, \"none\" that it does not depend on it");
  return draft;
}

DraftNode define_output(const NodeSpec& spec) {
  DraftNode draft;
  draft.node.name = "output";
  draft.node.node_class = "output";
  draft.node.components = {output_component()};
  draft.node.feature = {"prompt"};
  draft.node.location = spec.where;
  draft.node.components_location = spec.where;
  draft.node.positions_location = spec.where;
  draft.node.feature_location = spec.where;
  apply_keys(draft, spec);
  return draft;
}

void apply_remove(Draft& draft, const FileSpec& spec) {
  std::set<std::string, std::less<>> removed;
  for (const spec::NameRef& name : spec.remove_nodes) {
    if (name.name == "output")
      fail(name.where, "[remove]: the output node cannot be removed", "every hypothesis has one");
    if (removed.contains(name.name)) fail(name.where, "[remove] nodes: '" + name.name + "' is listed twice");
    draft.existing(name.name, name.where, "[remove] nodes");
    removed.insert(name.name);
  }
  draft.remove(removed);  // their edges go with them
  for (const spec::EdgeRef& edge : spec.remove_edges) {
    DraftNode& child = draft.existing(edge.to, edge.where, "[remove] edges");
    draft.existing(edge.from, edge.where, "[remove] edges");
    auto removed = std::erase_if(child.parents, [&](const ParentRef& parent) { return parent.node == edge.from; });
    if (removed == 0) {
      std::vector<std::string> parents;
      for (const ParentRef& parent : child.parents) parents.push_back(parent.node);
      fail(edge.where, "[remove] edges: there is no edge " + edge.from + " -> " + edge.to,
           parents.empty() ? edge.to + " has no parents" : edge.to + "'s parents are: " + join(parents));
    }
  }
}

void apply_definitions(Draft& draft, const FileSpec& spec, bool variant) {
  for (const NodeSpec& node : spec.nodes) {
    const std::string context = "[nodes." + node.name + "]";
    if (node.name == "output")
      fail(node.where, "'output' is the output node's name: write its table as [output]");
    DraftNode* existing = draft.find(node.name);
    if (existing != nullptr && !node.replace)
      fail(node.where, context + ": node '" + node.name + "' is already defined in " + draft.base_file,
           "write replace = true to replace it wholesale, or [edit." + node.name + "] to change some of its keys");
    if (existing == nullptr && node.replace)
      fail(node.where, context + ": replace = true, but " +
                           (variant ? draft.base_file + " has no node '" + node.name + "'" +
                                          did_you_mean(node.name, draft.names())
                                    : std::string("this file extends nothing")),
           variant ? "" : "replace = true is for variants: files with extends = \"BASE.toml\"");
    if (existing != nullptr) *existing = define_node(node, context);
    else draft.add(define_node(node, context), node.where);
  }
  if (spec.output) {
    if (draft.output && !spec.output->replace)
      fail(spec.output->where, "[output] is already defined in " + draft.base_file,
           "write replace = true to replace it wholesale, or [edit.output] to change some of its keys");
    if (!draft.output && spec.output->replace)
      fail(spec.output->where, "[output]: replace = true, but this file extends nothing");
    draft.output = define_output(*spec.output);
  }
}

void apply_edits(Draft& draft, const FileSpec& spec) {
  for (const NodeSpec& edit : spec.edits) {
    const std::string context = "[edit." + edit.name + "]";
    DraftNode& node = draft.existing(edit.name, edit.where, context);
    apply_keys(node, edit);
    for (const spec::NameRef& name : edit.remove_parents) {
      if (std::erase_if(node.parents, [&](const ParentRef& parent) { return parent.node == name.name; }) == 0) {
        std::vector<std::string> parents;
        for (const ParentRef& parent : node.parents) parents.push_back(parent.node);
        fail(name.where, context + ": remove_parents: '" + name.name + "' is not a parent of " + edit.name +
                             did_you_mean(name.name, parents),
             parents.empty() ? edit.name + " has no parents" : edit.name + "'s parents are: " + join(parents));
      }
    }
    for (const ParentRef& added : edit.add_parents) {
      for (const ParentRef& parent : node.parents)
        if (parent.node == added.node)
          fail(added.where, context + ": add_parents: '" + added.node + "' is already a parent of " + edit.name,
               "to change its ports, list it in remove_parents too");
      node.parents.push_back(added);
    }
  }
}

void apply_header(Draft& draft, const FileSpec& spec) {
  Hypothesis& header = draft.header;
  header.name = spec.name.value_or(spec.file.stem().string());
  header.description = spec.description.value_or("");
  if (spec.model_layers) header.model_layers = spec.model_layers;
  if (spec.model_heads) header.model_heads = spec.model_heads;
  if (spec.model_layers || spec.model_heads) header.model_location = spec.model_where;
  if (spec.task) {
    header.defaults.task = *spec.task;
    header.task_location = spec.task_where;
  }
  if (spec.metric) header.defaults.metric = *spec.metric;
  if (spec.n) header.defaults.n = *spec.n;
  if (spec.seeds) header.defaults.seeds = *spec.seeds;
}

void refuse_variant_keys(const FileSpec& spec) {
  const std::string hint = "[remove], [edit.X] and replace = true change another file: add extends = \"BASE.toml\"";
  if (!spec.remove_nodes.empty() || !spec.remove_edges.empty())
    fail(spec.remove_where, "[remove] in a file that extends nothing", hint);
  if (!spec.edits.empty()) fail(spec.edits.front().where, "[edit." + spec.edits.front().name + "] in a file that extends nothing", hint);
}

// The .toml files next to `missing`, for a suggestion.
std::vector<std::string> sibling_files(const std::filesystem::path& missing) {
  std::vector<std::string> names;
  std::error_code error;
  auto directory = missing.parent_path().empty() ? std::filesystem::path(".") : missing.parent_path();
  for (const auto& entry : std::filesystem::directory_iterator(directory, error))
    if (entry.path().extension() == ".toml") names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// The path that identifies `file` in an extends chain; where the file system cannot tell (a name too
// long, no permission), the path as written, normalised: reading it will then say what is wrong.
std::filesystem::path canonical_or_normal(const std::filesystem::path& file) {
  std::error_code error;
  std::filesystem::path canonical = std::filesystem::weakly_canonical(file, error);
  return error ? file.lexically_normal() : canonical;
}

// `text`: the file's contents when already in memory (only ever for the file named first).
Draft resolve(const std::filesystem::path& file, std::vector<std::filesystem::path>& chain,
              const std::string_view* text = nullptr) {
  FileSpec spec = text ? spec::parse_file_spec(*text, file) : spec::read_file_spec(file);
  Draft draft;
  const bool variant = spec.extends.has_value();
  if (variant) {
    const spec::NameRef& extends = *spec.extends;
    std::filesystem::path base = (file.parent_path() / extends.name).lexically_normal();
    std::error_code error;  // e.g. a name too long for the file system: not a reason to throw anything else
    const std::filesystem::file_type type = std::filesystem::status(base, error).type();
    if (type != std::filesystem::file_type::regular)
      fail(extends.where, "extends \"" + extends.name + "\": " +
                              (type == std::filesystem::file_type::not_found ? "no such file " + base.string()
                               : type == std::filesystem::file_type::none
                                   ? "cannot use " + base.string() + " (" + error.message() + ")"
                                   : "not a regular file: " + base.string()) +
                              did_you_mean(std::filesystem::path(extends.name).filename().string(), sibling_files(base)),
           "extends is relative to the directory of the file that says it");
    const std::filesystem::path canonical = canonical_or_normal(base);
    // Each link is a recursion here, and a variant of a variant of ... 64 files deep is no hypothesis.
    if (chain.size() >= kMaxExtendsChain)
      fail(extends.where, "extends \"" + extends.name + "\": a chain of more than " + std::to_string(kMaxExtendsChain) +
                              " files (the limit)",
           "extend the base hypothesis directly, not through a long line of variants");
    if (std::find(chain.begin(), chain.end(), canonical) != chain.end()) {
      std::string loop;
      for (const auto& link : chain) loop += link.filename().string() + " -> ";
      fail(extends.where, "extends loops: " + loop + canonical.filename().string(),
           "a variant cannot extend itself, directly or through other files");
    }
    chain.push_back(canonical);
    draft = resolve(base, chain);
    chain.pop_back();
    draft.base_file = base.string();
    apply_remove(draft, spec);
  } else {
    refuse_variant_keys(spec);
    draft.base_file = file.string();
  }
  apply_header(draft, spec);
  apply_definitions(draft, spec, variant);
  apply_edits(draft, spec);
  if (!draft.output)
    fail(SourceLocation{file.string(), 0, 0}, "no [output] table: every hypothesis needs an output node",
         "add [output] with parents = [the nodes that write the logits]; see docs/hypothesis-format.md");
  draft.base_file = file.string();
  draft.files.insert(draft.files.begin(), file.string());
  return draft;
}

Hypothesis finish(Draft draft, const std::filesystem::path& file) {
  Hypothesis hypothesis = std::move(draft.header);
  hypothesis.source_file = file.string();
  hypothesis.files = std::move(draft.files);
  for (DraftNode& node : draft.nodes) hypothesis.nodes.push_back(node.node);
  hypothesis.output_node = static_cast<int>(hypothesis.nodes.size());
  hypothesis.nodes.push_back(draft.output->node);

  std::vector<std::string> names;
  std::map<std::string, int, std::less<>> index_by_name;  // a scan per parent was quadratic in the nodes
  for (const InterpNode& node : hypothesis.nodes) {
    index_by_name.emplace(node.name, static_cast<int>(names.size()));
    names.push_back(node.name);
  }
  auto index_of = [&](const std::string& name) {
    const auto found = index_by_name.find(name);
    return found == index_by_name.end() ? static_cast<int>(names.size()) : found->second;
  };
  draft.nodes.push_back(std::move(*draft.output));
  for (size_t child = 0; child < draft.nodes.size(); ++child) {
    for (const ParentRef& parent : draft.nodes[child].parents) {
      int index = index_of(parent.node);
      if (index == static_cast<int>(names.size()))
        fail(parent.where, "[" + std::string(child + 1 == draft.nodes.size() ? "output" : "nodes." + names[child]) +
                               "]: parent '" + parent.node + "' is not a node" + did_you_mean(parent.node, names));
      InterpEdge edge;
      edge.parent = index;
      edge.child = static_cast<int>(child);
      edge.ports = parent.ports;
      edge.location = parent.where;
      hypothesis.edges.push_back(std::move(edge));
    }
  }
  return hypothesis;
}

}  // namespace

Hypothesis read_hypothesis_file(const std::filesystem::path& file) {
  std::vector<std::filesystem::path> chain{canonical_or_normal(file)};
  return finish(resolve(file, chain), file);
}

Hypothesis read_hypothesis_text(std::string_view text, const std::filesystem::path& file) {
  std::vector<std::filesystem::path> chain{canonical_or_normal(file)};
  return finish(resolve(file, chain, &text), file);
}

std::vector<std::filesystem::path> hypothesis_files(const std::filesystem::path& file) {
  std::vector<std::filesystem::path> files, seen;
  std::filesystem::path current = file;
  while (files.size() <= kMaxExtendsChain) {
    std::error_code error;
    if (!std::filesystem::is_regular_file(current, error)) break;
    const std::filesystem::path canonical = canonical_or_normal(current);
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end()) break;
    files.push_back(current);
    seen.push_back(canonical);
    std::optional<spec::NameRef> extends;
    try {
      extends = spec::read_file_spec(current).extends;
    } catch (const Error&) {
      break;  // reading the hypothesis will report it
    }
    if (!extends) break;
    current = (current.parent_path() / extends->name).lexically_normal();
  }
  return files;
}

}  // namespace cscrub::graph
