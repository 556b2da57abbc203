// Lines of points over a logarithmic x axis, as a standalone SVG (for `cscrub faithfulness`: several score
// files' faithfulness curves on one plot).
#pragma once
#include <string>
#include <vector>

namespace cscrub::cli {

struct LineSeries {
  std::string label;
  std::vector<double> x, y;  // x > 0
  bool dashed = false;
  int colour = 0;            // index into the chart's palette
};

struct LineChart {
  std::string title, subtitle, x_label, y_label;
  std::vector<double> reference_lines;  // horizontal lines drawn across the plot (e.g. 0 and 1)
  std::vector<LineSeries> series;
};

std::string svg_line_chart(const LineChart& chart);

}  // namespace cscrub::cli
