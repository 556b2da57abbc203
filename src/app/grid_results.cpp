#include "cscrub/app/grid_results.hpp"

#include <cmath>

#include "cscrub/error.hpp"

namespace cscrub::app {

nlohmann::ordered_json grid_json(const discover::Grid& grid) {
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (int row = 0; row < grid.rows(); ++row) {
    nlohmann::ordered_json cells = nlohmann::ordered_json::array();
    for (int column = 0; column < grid.columns(); ++column) {
      const double value = grid.at(row, column);
      cells.push_back(std::isnan(value) ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(value));
    }
    rows.push_back(std::move(cells));
  }
  return {{"axes", {grid.row_axis, grid.column_axis}},
          {"labels", {{grid.row_axis, grid.row_labels}, {grid.column_axis, grid.column_labels}}},
          {"values", std::move(rows)}};
}

std::string cell_name(const discover::Grid& grid, int row, int column) {
  if (grid.row_axis == "layer" && grid.column_axis == "head")
    return grid.row_labels[static_cast<size_t>(row)] + "." + grid.column_labels[static_cast<size_t>(column)];
  return grid.row_axis + " " + grid.row_labels[static_cast<size_t>(row)] + ", " +
         grid.column_labels[static_cast<size_t>(column)];
}

std::string metric_name(const std::string& task) {
  return task == "ioi" ? "logit(IO) \u2212 logit(S)" : "logit(answer) \u2212 logit(distractor)";
}

void check_top(int top) {
  if (top < 0) throw Error("--top must be at least 0 (got " + std::to_string(top) + ")");
}

void require_finite_metric(double value, const std::string& what) {
  if (std::isfinite(value)) return;
  throw Error("the model produced a non-finite " + what + " (" +
                  (std::isnan(value) ? "NaN"
                   : value > 0       ? "+Inf"
                                     : "-Inf") +
                  "): the forward pass overflowed float32",
              "the weights are finite, but some activation outgrew float32's range; look for extreme weights");
}

}  // namespace cscrub::app
