#include "svg_bar_chart.hpp"

#include <fmt/format.h>

#include "svg_text.hpp"

#include <algorithm>
#include <cmath>

namespace cscrub::cli {

std::string svg_bar_chart(const std::string& title, const std::string& axis_label, const std::vector<Bar>& bars) {
  double low = 0, high = 1;
  for (const Bar& bar : bars)
    for (double v : {bar.value, bar.low, bar.high})
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
  low = std::floor(low * 10) / 10;
  high = std::ceil(high * 10) / 10;
  const int label_width = 260, plot_width = 520, row_height = 34, top = 60, bottom = 50;
  const int width = label_width + plot_width + 40, height = top + row_height * static_cast<int>(bars.size()) + bottom;
  auto x = [&](double v) { return label_width + (v - low) / (high - low) * plot_width; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{2}\" y=\"28\" font-size=\"17\" font-weight=\"bold\">{3}</text>\n",
      width, height, 16, svg_escape(title));
  for (double tick = low; tick <= high + 1e-9; tick += 0.1) {
    const bool major = std::fabs(tick) < 1e-9 || std::fabs(tick - 1) < 1e-9;
    svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"{4}\"/>\n",
                       x(tick), top - 8, height - bottom, major ? "#555" : "#ddd", major ? 1.5 : 1);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"12\" text-anchor=\"middle\" fill=\"#333\">{:.0f}%</text>\n",
                       x(tick), height - bottom + 18, tick * 100);
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{}</text>\n",
                     label_width + plot_width / 2.0, height - 10, svg_escape(axis_label));
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& bar = bars[i];
    const double y = top + row_height * static_cast<double>(i);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"13\" text-anchor=\"end\">{}</text>\n", label_width - 10,
                       y + row_height / 2.0 + 4, svg_escape(bar.label));
    if (!std::isfinite(bar.value)) continue;
    const double zero = x(0), end = x(bar.value);
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"#4c78a8\" opacity=\"0.85\"/>\n",
                       std::min(zero, end), y + 7, std::fabs(end - zero), row_height - 14);
    if (std::isfinite(bar.low) && std::isfinite(bar.high)) {
      const double mid = y + row_height / 2.0;
      svg += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                         x(bar.low), x(bar.high), mid, mid);
      for (double v : {bar.low, bar.high})
        svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                           x(v), mid - 6, mid + 6);
    }
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" fill=\"#222\">{:.1f}%</text>\n",
                       x(std::isfinite(bar.high) ? std::max(bar.high, bar.value) : bar.value) + 6,
                       y + row_height / 2.0 + 4, bar.value * 100);
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace cscrub::cli
