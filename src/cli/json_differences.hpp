// Where two JSON values differ, for `rerun`: in time linear in their size (nlohmann's diff() inserts each
// removal of a longer array's tail at one place in its result, quadratic work: a record of 10^6 per-seed
// values hung), listing the first few places and counting the rest.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace cscrub::cli {

struct JsonDifference {
  std::string path;      // a JSON pointer, "/hypotheses/0/recovered"
  std::string recorded;  // short excerpts (io::json_excerpt); "(absent)" where one side has nothing
  std::string now;
};

struct JsonDifferences {
  size_t count = 0;                    // every differing place
  std::vector<JsonDifference> listed;  // the first `limit` of them
};

// Values of different types, numbers, strings, arrays of different lengths (each extra element a place)
// and keys present on one side only differ. Recursion follows the values' nesting, which their reader bounds.
JsonDifferences json_differences(const nlohmann::json& recorded, const nlohmann::json& now, size_t limit);

}  // namespace cscrub::cli
