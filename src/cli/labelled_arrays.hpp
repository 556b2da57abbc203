// Outputs that say what they hold: every .npy cscrub writes gets a JSON sidecar (FILE.npy.json) naming its
// axes, their labels and what the values mean; the --json results hold grids with their labels the same way.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "cscrub/app/grid_results.hpp"
#include "cscrub/discover/grid.hpp"

namespace cscrub::cli {

// One axis of an array: its name and, when short enough to list, the label of each index.
struct Axis {
  std::string name;
  std::vector<std::string> labels;  // empty: indices only (e.g. 50,257 token ids)
};

// What an array holds, for its sidecar.
struct ArrayMeaning {
  std::vector<Axis> axes;
  std::string values;        // e.g. "normalized effect: (patched − corrupted) / (clean − corrupted)"
  std::string not_a_number;  // what a NaN means; empty when there are none
};

// FILE.npy -> FILE.npy.json.
std::string sidecar_path(const std::string& npy_path);

// Writes the float32 array and its sidecar {"array", "dtype", "shape", "axes", "labels", "values", "nan",
// "written_by"}; both atomically, the array first.
void write_labelled_npy(const std::string& path, std::span<const float> values, std::span<const int64_t> shape,
                        const ArrayMeaning& meaning);

// A grid for JSON results (app/grid_results.hpp).
using app::grid_json;

// The grid's axes and labels, for its sidecar.
std::vector<Axis> grid_axes(const discover::Grid& grid);

// `json` with two-space indents and a final newline (bytes that are not UTF-8 replaced), atomically.
void write_json_result(const std::string& path, const nlohmann::ordered_json& json);

}  // namespace cscrub::cli
