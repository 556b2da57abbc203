#include "labelled_arrays.hpp"

#include <cmath>
#include <filesystem>

#include "cscrub/io/npy.hpp"
#include "cscrub/io/output_file.hpp"

namespace cscrub::cli {

std::string sidecar_path(const std::string& npy_path) { return npy_path + ".json"; }

void write_labelled_npy(const std::string& path, std::span<const float> values, std::span<const int64_t> shape,
                        const ArrayMeaning& meaning) {
  nlohmann::ordered_json sidecar;
  sidecar["array"] = std::filesystem::path(path).filename().string();
  sidecar["dtype"] = "float32";
  sidecar["shape"] = std::vector<int64_t>(shape.begin(), shape.end());
  nlohmann::ordered_json names = nlohmann::ordered_json::array(), labels = nlohmann::ordered_json::object();
  for (const Axis& axis : meaning.axes) {
    names.push_back(axis.name);
    if (!axis.labels.empty()) labels[axis.name] = axis.labels;
  }
  sidecar["axes"] = std::move(names);
  sidecar["labels"] = std::move(labels);
  sidecar["values"] = meaning.values;
  if (!meaning.not_a_number.empty()) sidecar["nan"] = meaning.not_a_number;
  sidecar["written_by"] = std::string("cscrub ") + CSCRUB_VERSION;
  io::write_npy(path, values, shape);
  write_json_result(sidecar_path(path), sidecar);
}

std::vector<Axis> grid_axes(const discover::Grid& grid) {
  return {{grid.row_axis, grid.row_labels}, {grid.column_axis, grid.column_labels}};
}

void write_json_result(const std::string& path, const nlohmann::ordered_json& json) {
  io::write_file_atomically(path, json.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) + '\n');
}

}  // namespace cscrub::cli
