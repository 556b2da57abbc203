#include "toml_reader.hpp"

#include <algorithm>
#include <sstream>

#include "cscrub/error.hpp"
#include "suggestions.hpp"

namespace cscrub::graph::spec {

SourceLocation location_of(const toml::source_region& region, const std::string& file) {
  return SourceLocation{file, static_cast<int>(region.begin.line), static_cast<int>(region.begin.column)};
}

std::string describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "a string (\"" + node.as_string()->get() + "\")";
    case toml::node_type::integer: return "an integer (" + std::to_string(node.as_integer()->get()) + ")";
    case toml::node_type::floating_point: {
      std::ostringstream number;
      number << node.as_floating_point()->get();
      return "a number (" + number.str() + ")";
    }
    case toml::node_type::boolean: return node.as_boolean()->get() ? "a boolean (true)" : "a boolean (false)";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::date:
    case toml::node_type::time:
    case toml::node_type::date_time: return "a date or time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

TableReader::TableReader(const toml::table& table, std::string context, std::string file)
    : table_(&table), context_(std::move(context)), file_(std::move(file)) {}

SourceLocation TableReader::where() const { return location_of(table_->source(), file_); }
SourceLocation TableReader::where(const toml::node& node) const { return location_of(node.source(), file_); }
SourceLocation TableReader::where(const toml::key& key) const { return location_of(key.source(), file_); }
SourceLocation TableReader::where(std::string_view key) const {
  if (const toml::node* value = get(key)) return where(*value);
  return where();
}

void TableReader::fail(const SourceLocation& at, const std::string& message, const std::string& hint) const {
  throw Error(at.to_string() + ": " + message, hint);
}

void TableReader::fail_type(std::string_view key, const toml::node& value, const std::string& expected) const {
  fail(where(value), "in " + context_ + ": '" + std::string(key) + "' must be " + expected + ", not " + describe(value));
}

void TableReader::allow_only(const std::vector<std::string>& allowed) const {
  for (auto&& [key, value] : *table_) {
    if (std::find(allowed.begin(), allowed.end(), key.str()) != allowed.end()) continue;
    fail(where(key), "in " + context_ + ": unknown key '" + std::string(key.str()) + "'" + did_you_mean(key.str(), allowed),
         "the keys of " + context_ + " are: " + join(allowed));
  }
}

std::optional<std::string> TableReader::string(std::string_view key) const {
  const toml::node* value = get(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_string()) fail_type(key, *value, "a string");
  return value->as_string()->get();
}

std::optional<int> TableReader::positive_integer(std::string_view key) const {
  const toml::node* value = get(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_integer() || value->as_integer()->get() <= 0 || value->as_integer()->get() > (1 << 30))
    fail_type(key, *value, "a positive integer");
  return static_cast<int>(value->as_integer()->get());
}

std::optional<bool> TableReader::boolean(std::string_view key) const {
  const toml::node* value = get(key);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) fail_type(key, *value, "true or false");
  return value->as_boolean()->get();
}

std::optional<std::vector<Located>> TableReader::strings(std::string_view key, bool allow_empty) const {
  const toml::node* value = get(key);
  if (value == nullptr) return std::nullopt;
  std::vector<Located> result;
  if (value->is_string()) {
    result.push_back({value->as_string()->get(), where(*value)});
    return result;
  }
  if (!value->is_array()) fail_type(key, *value, "a string or an array of strings");
  for (const toml::node& element : *value->as_array()) {
    if (!element.is_string()) fail_type(key, element, "a string or an array of strings (each element a string)");
    result.push_back({element.as_string()->get(), where(element)});
  }
  if (result.empty() && !allow_empty)
    fail(where(*value), "in " + context_ + ": '" + std::string(key) + "' is an empty list", "omit the key instead");
  return result;
}

const toml::array* TableReader::array(std::string_view key) const {
  const toml::node* value = get(key);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) fail_type(key, *value, "an array");
  return value->as_array();
}

const toml::table* TableReader::subtable(std::string_view key) const {
  const toml::node* value = get(key);
  if (value == nullptr) return nullptr;
  if (!value->is_table()) fail_type(key, *value, "a table");
  return value->as_table();
}

}  // namespace cscrub::graph::spec
