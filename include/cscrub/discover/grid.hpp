// Results of sweeps: a table of numbers with labelled rows and columns ([layer, head], [layer, position],
// [layer, site]) and the reference points a patching effect is measured against.
#pragma once
#include <string>
#include <vector>

namespace cscrub::discover {

struct Grid {
  std::string row_axis, column_axis;  // e.g. "layer", "head"
  std::vector<std::string> row_labels, column_labels;
  std::vector<double> values;  // row-major, rows * columns; NaN where a cell means nothing (e.g. no path)

  int rows() const { return static_cast<int>(row_labels.size()); }
  int columns() const { return static_cast<int>(column_labels.size()); }
  double at(int row, int column) const { return values[static_cast<size_t>(row * columns() + column)]; }
  double& at(int row, int column) { return values[static_cast<size_t>(row * columns() + column)]; }
};

// A grid of `rows` x `columns` NaNs labelled 0, 1, ... on both axes.
Grid numbered_grid(std::string row_axis, int rows, std::string column_axis, int columns);

// One cell of a grid, for rankings.
struct Cell {
  int row = 0, column = 0;
  double value = 0;
};
// The `count` cells of largest |value| (NaNs skipped), largest first; ties keep grid order.
std::vector<Cell> strongest_cells(const Grid& grid, int count);

// What a sweep measured, as mean logit differences: each cell's intervened run, and the unmodified runs.
// `base` is the run the interventions were applied to: the corrupted run when denoising, the clean run when
// noising, ablating or path patching.
struct Sweep {
  std::string description;  // what was intervened on, where the values came from, and the metric
  Grid patched;             // mean logit difference with the cell's intervention
  double base = 0, clean = 0, corrupted = 0;
  int prompts = 0;

  // patched - base: the effect in logit-difference units.
  Grid change() const;
  // (patched - base) / (clean - corrupted): 0 = no effect; denoising: 1 = the clean value restored;
  // noising, ablation, path patching: -1 = down to the corrupted value.
  Grid normalized() const;
};

}  // namespace cscrub::discover
