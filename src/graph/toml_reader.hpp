// Typed, located access to one TOML table of a hypothesis file: every error names file:line:column and
// the table, and unknown keys get the closest valid one. The only place that touches toml++ values.
#pragma once
#include <string>
#include <string_view>
#include <toml++/toml.h>
#include <vector>

#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph::spec {

struct Located {
  std::string text;
  SourceLocation where;
};

class TableReader {
 public:
  // `context` names the table in messages, e.g. "[nodes.name_movers]".
  TableReader(const toml::table& table, std::string context, std::string file);

  const toml::table& table() const { return *table_; }
  const std::string& context() const { return context_; }
  const std::string& file() const { return file_; }

  SourceLocation where() const;
  SourceLocation where(const toml::node& node) const;
  SourceLocation where(const toml::key& key) const;
  // Where `key`'s value is; the table's location when absent.
  SourceLocation where(std::string_view key) const;

  // Throws for the first key not in `allowed`, suggesting the closest allowed key.
  void allow_only(const std::vector<std::string>& allowed) const;

  bool has(std::string_view key) const { return table_->contains(key); }
  const toml::node* get(std::string_view key) const { return table_->get(key); }

  std::optional<std::string> string(std::string_view key) const;
  std::optional<int> positive_integer(std::string_view key) const;
  std::optional<bool> boolean(std::string_view key) const;
  // A string or an array of strings (one string stands for a one-element list); empty lists refused
  // unless allow_empty.
  std::optional<std::vector<Located>> strings(std::string_view key, bool allow_empty = false) const;
  const toml::array* array(std::string_view key) const;
  // A sub-table, or nullptr when absent.
  const toml::table* subtable(std::string_view key) const;

  [[noreturn]] void fail(const SourceLocation& where, const std::string& message, const std::string& hint = {}) const;
  [[noreturn]] void fail_type(std::string_view key, const toml::node& value, const std::string& expected) const;

 private:
  const toml::table* table_;
  std::string context_;
  std::string file_;
};

// "a string (\"x\")", "an integer (3)", "an array", ... for messages.
std::string describe(const toml::node& node);
SourceLocation location_of(const toml::source_region& region, const std::string& file);

}  // namespace cscrub::graph::spec
