// What one hypothesis file says, before its `extends` chain is resolved: plain data read from TOML by
// read_file_spec (hypothesis_toml.cpp) and merged into a Hypothesis by hypothesis_file.cpp. Every
// optional is "the file does not say".
#pragma once
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph::spec {

struct NameRef {
  std::string name;
  SourceLocation where;
};

struct ParentRef {
  std::string node;
  std::vector<Port> ports;  // empty: all ports of the child's components
  SourceLocation where;
};

// A [nodes.X], [output] or [edit.X] table.
struct NodeSpec {
  std::string name;
  SourceLocation where;
  bool replace = false;
  std::optional<std::string> node_class;
  std::optional<std::string> description;
  // Each key given replaces the components of its kind only (so [edit.X] mlps = [9] keeps X's heads).
  std::optional<std::vector<Component>> heads;
  std::optional<std::vector<Component>> mlps;
  std::optional<bool> embed;
  SourceLocation components_where;
  std::optional<PositionSpec> positions;
  SourceLocation positions_where;
  std::optional<std::vector<std::string>> feature;
  SourceLocation feature_where;
  std::optional<InterpNode::Rest> rest;
  std::optional<std::vector<ParentRef>> parents;
  std::vector<ParentRef> add_parents;    // [edit.X] only
  std::vector<NameRef> remove_parents;   // [edit.X] only
};

struct EdgeRef {
  std::string from;
  std::string to;
  SourceLocation where;
};

struct FileSpec {
  std::filesystem::path file;
  std::optional<NameRef> extends;
  std::optional<std::string> name;
  std::optional<std::string> description;
  std::optional<int> model_layers;
  std::optional<int> model_heads;
  SourceLocation model_where;
  std::optional<std::string> task;
  SourceLocation task_where;
  std::optional<std::string> metric;
  std::optional<int> n;
  std::optional<int> seeds;
  std::vector<NodeSpec> nodes;   // [nodes.X], in file order
  std::optional<NodeSpec> output;
  std::vector<NodeSpec> edits;   // [edit.X], in file order
  std::vector<NameRef> remove_nodes;
  std::vector<EdgeRef> remove_edges;
  SourceLocation remove_where;
};

// Reads and checks the syntax, keys and value types of one file (not its extends). Throws cscrub::Error
// with file:line:column.
FileSpec read_file_spec(const std::filesystem::path& file);
// The same for the file's text already in memory.
FileSpec parse_file_spec(std::string_view text, const std::filesystem::path& file);

}  // namespace cscrub::graph::spec
