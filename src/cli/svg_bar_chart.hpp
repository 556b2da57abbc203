// A horizontal bar chart with 95% intervals, as a standalone SVG (for `cscrub compare`).
#pragma once
#include <string>
#include <vector>

namespace cscrub::cli {

struct Bar {
  std::string label;
  double value = 0, low = 0, high = 0;  // fractions (1 = 100%)
};

// Bars top to bottom in the given order; the axis spans 0-100% and stretches to include every interval.
std::string svg_bar_chart(const std::string& title, const std::string& axis_label, const std::vector<Bar>& bars);

}  // namespace cscrub::cli
