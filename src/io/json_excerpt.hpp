// A JSON value from an input file, quoted in an error message: short, one line, and never a recursive
// walk of whatever nesting the file contains (nlohmann's dump() recurses: a shape written as a million
// nested brackets would overflow the stack while the message is being built).
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace cscrub::io {

// Scalars and flat arrays of scalars as JSON (long text cut with "..."); anything else described, e.g.
// "an array of 3 values", "an object with 2 keys".
std::string json_excerpt(const nlohmann::json& value);

}  // namespace cscrub::io
