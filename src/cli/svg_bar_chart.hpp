// A horizontal bar chart with 95% intervals, as a standalone SVG (for `cscrub compare`): one panel of values
// and, beside it, an optional panel of each row's paired difference to the first row.
#pragma once
#include <string>
#include <vector>

namespace cscrub::cli {

struct Bar {
  std::string label;
  double value = 0, low = 0, high = 0;  // fractions (1 = 100%); a NaN value leaves the row's bar out
};

// A second panel, one row per bar of the first: e.g. each variant's paired difference to the reference.
struct DifferencePanel {
  std::string axis_label;
  std::vector<Bar> rows;     // labels unused; values as fractions, drawn in percentage points
  std::string first_row_note;  // written in the first row instead of a bar (e.g. "reference")
};

// Bars top to bottom in the given order. The first panel's axis spans 0-100% and stretches to include every
// interval; the label column and the margins are wide enough for the longest label and for "100.0%". With
// `differences`, a second panel to the right, its axis around 0 in percentage points.
std::string svg_bar_chart(const std::string& title, const std::string& axis_label, const std::vector<Bar>& bars,
                          const DifferencePanel* differences = nullptr);

// The width in pixels that `text` takes at `font_size` in Helvetica, over-estimated (an SVG has no text metrics
// before it is drawn): 0.62 em per character.
double text_width(const std::string& text, double font_size);

}  // namespace cscrub::cli
