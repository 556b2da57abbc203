// How a sweep's [row, column] grid appears in results (the CLI's tables and --json, and Python's dicts alike):
// cells by name, grids as labelled JSON, the metric in words.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "cscrub/discover/grid.hpp"

namespace cscrub::app {

// A grid for JSON results: {"axes": [row, column], "labels": {row: [...], column: [...]}, "values": [[...]]},
// NaN as null.
nlohmann::ordered_json grid_json(const discover::Grid& grid);
// How a cell is called in tables: "2.1" for heads, "layer 2, attn_out" otherwise.
std::string cell_name(const discover::Grid& grid, int row, int column);
// "logit(IO) − logit(S)" for IOI, "logit(answer) − logit(distractor)" otherwise.
std::string metric_name(const std::string& task);
// Throws cscrub::Error (the CLI's message) for a negative number of strongest cells to list.
void check_top(int top);
// The model's own mean metric over the prompts: one forward pass that overflowed float32 makes it NaN or
// infinite, and every effect measured against it meaningless. Throws cscrub::Error naming `what`.
void require_finite_metric(double value, const std::string& what);

}  // namespace cscrub::app
