#include "cscrub/discover/grid.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cscrub::discover {

Grid numbered_grid(std::string row_axis, int rows, std::string column_axis, int columns) {
  Grid grid{.row_axis = std::move(row_axis), .column_axis = std::move(column_axis), .row_labels = {},
            .column_labels = {}, .values = {}};
  for (int r = 0; r < rows; ++r) grid.row_labels.push_back(std::to_string(r));
  for (int c = 0; c < columns; ++c) grid.column_labels.push_back(std::to_string(c));
  grid.values.assign(static_cast<size_t>(rows * columns), std::numeric_limits<double>::quiet_NaN());
  return grid;
}

std::vector<Cell> strongest_cells(const Grid& grid, int count) {
  std::vector<Cell> cells;
  for (int r = 0; r < grid.rows(); ++r)
    for (int c = 0; c < grid.columns(); ++c)
      if (std::isfinite(grid.at(r, c))) cells.push_back({r, c, grid.at(r, c)});
  std::stable_sort(cells.begin(), cells.end(),
                   [](const Cell& a, const Cell& b) { return std::fabs(a.value) > std::fabs(b.value); });
  if (count >= 0 && static_cast<size_t>(count) < cells.size()) cells.resize(static_cast<size_t>(count));
  return cells;
}

Grid Sweep::change() const {
  Grid grid = patched;
  for (double& value : grid.values) value -= base;
  return grid;
}

Grid Sweep::normalized() const {
  Grid grid = change();
  for (double& value : grid.values) value /= clean - corrupted;
  return grid;
}

}  // namespace cscrub::discover
