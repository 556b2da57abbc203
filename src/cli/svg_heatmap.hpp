// A heatmap as a standalone SVG, for papers: a grid of coloured cells (diverging blue-white-red centred on 0,
// or sequential white-blue from 0), a colour bar with ticks, labelled axes, and the values written in the
// cells when they are large enough to read. Used for [layer, head] effects and attention patterns.
#pragma once
#include <string>
#include <vector>

namespace cscrub::cli {

struct Heatmap {
  enum class Scale {
    diverging,   // [-limit, limit]: blue negative, white 0, red positive
    sequential,  // [0, limit]: white 0 to dark blue
  };
  std::string title;
  std::string subtitle;  // smaller lines under the title ('\n' separates them; long ones wrap): metric, data, model
  std::string row_axis, column_axis;
  std::vector<std::string> row_labels, column_labels;
  std::vector<double> values;  // row-major; NaN cells are drawn grey and explained by `masked_label`
  Scale scale = Scale::diverging;
  double limit = 0;            // the colour scale's end; 0: the largest |value|, rounded up to a round number
  std::string colour_label;    // caption of the colour bar
  std::string masked_label;    // legend for grey cells (e.g. "no path"); none when empty
  int decimals = 2;            // of the values written in cells (more when the scale is small)
  double annotate_from = 0;    // write only values with |value| >= this (keeps sparse maps legible)
};

std::string svg_heatmap(const Heatmap& heatmap);

// A number as printed in figures: fixed decimals, a real minus sign, no "-0.00".
std::string figure_number(double value, int decimals);

}  // namespace cscrub::cli
