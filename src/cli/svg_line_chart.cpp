#include "svg_line_chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "svg_text.hpp"

namespace cscrub::cli {
namespace {

constexpr const char* kPalette[] = {"#4c78a8", "#e45756", "#54a24b", "#f58518", "#b279a2", "#72b7b2", "#9d755d", "#bab0ac"};

// A tick step of 1, 2 or 5 times a power of ten giving about `count` ticks over `span`.
double tick_step(double span, int count) {
  const double raw = span / count, power = std::pow(10.0, std::floor(std::log10(raw)));
  for (double multiple : {1.0, 2.0, 5.0, 10.0})
    if (raw <= multiple * power) return multiple * power;
  return 10 * power;
}

std::string percent(double fraction) {
  const double value = fraction * 100;
  return value >= 1 ? fmt::format("{:g}%", value) : fmt::format("{:.1f}%", value);
}

}  // namespace

std::string svg_line_chart(const LineChart& chart) {
  double x_low = INFINITY, x_high = -INFINITY, y_low = 0, y_high = 1;
  for (const LineSeries& series : chart.series)
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (!(series.x[i] > 0) || !std::isfinite(series.y[i])) continue;
      x_low = std::min(x_low, series.x[i]);
      x_high = std::max(x_high, series.x[i]);
      y_low = std::min(y_low, series.y[i]);
      y_high = std::max(y_high, series.y[i]);
    }
  if (!(x_low < x_high)) x_low = 0.001, x_high = 1;
  const double y_step = tick_step(y_high - y_low, 6);
  y_low = std::floor(y_low / y_step) * y_step;
  y_high = std::ceil(y_high / y_step) * y_step;
  const int left = 80, plot_width = 560, top = 70, plot_height = 340, legend_width = 300;
  const int width = left + plot_width + legend_width, height = top + plot_height + 60;
  auto x = [&](double v) { return left + (std::log10(v) - std::log10(x_low)) / (std::log10(x_high) - std::log10(x_low)) * plot_width; };
  auto y = [&](double v) { return top + plot_height - (v - y_low) / (y_high - y_low) * plot_height; };

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"16\" y=\"26\" font-size=\"17\" font-weight=\"bold\">{2}</text>\n"
      "<text x=\"16\" y=\"46\" font-size=\"12\" fill=\"#444\">{3}</text>\n",
      width, height, svg_escape(chart.title), svg_escape(chart.subtitle));
  for (double tick = y_low; tick <= y_high + y_step / 2; tick += y_step)
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#e4e4e4\"/>\n"
                       "<text x=\"{3}\" y=\"{4:.1f}\" font-size=\"11\" text-anchor=\"end\" fill=\"#333\">{5:g}</text>\n",
                       left, left + plot_width, y(tick), left - 6, y(tick) + 4, std::round(tick / y_step) * y_step);
  for (double decade = std::pow(10.0, std::floor(std::log10(x_low))); decade <= x_high * 1.0001; decade *= 10)
    for (double multiple : {1.0, 2.0, 5.0}) {
      const double tick = decade * multiple;
      if (tick < x_low * 0.9999 || tick > x_high * 1.0001) continue;
      svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#e4e4e4\"/>\n"
                         "<text x=\"{0:.1f}\" y=\"{3}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#333\">{4}</text>\n",
                         x(tick), top, top + plot_height, top + plot_height + 16, percent(tick));
    }
  for (double reference : chart.reference_lines)
    if (reference >= y_low && reference <= y_high)
      svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#777\" stroke-width=\"1.2\"/>\n",
                         left, left + plot_width, y(reference));
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#999\"/>\n", left, top,
                     plot_width, plot_height);
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"13\" text-anchor=\"middle\">{}</text>\n",
                     left + plot_width / 2.0, top + plot_height + 40, svg_escape(chart.x_label));
  svg += fmt::format("<text x=\"18\" y=\"{0:.1f}\" font-size=\"13\" text-anchor=\"middle\" transform=\"rotate(-90 18 {0:.1f})\">{1}</text>\n",
                     top + plot_height / 2.0, svg_escape(chart.y_label));
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const LineSeries& series = chart.series[s];
    const char* colour = kPalette[static_cast<size_t>(series.colour) % std::size(kPalette)];
    std::string points;
    for (size_t i = 0; i < series.x.size(); ++i)
      if (series.x[i] > 0 && std::isfinite(series.y[i])) points += fmt::format("{:.1f},{:.1f} ", x(series.x[i]), y(series.y[i]));
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"{}/>\n", points, colour,
                       series.dashed ? " stroke-dasharray=\"6,4\"" : "");
    for (size_t i = 0; i < series.x.size(); ++i)
      if (series.x[i] > 0 && std::isfinite(series.y[i]))
        svg += fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"2.6\" fill=\"{}\"/>\n", x(series.x[i]), y(series.y[i]), colour);
    const double legend_y = top + 10 + 22.0 * static_cast<double>(s);
    svg += fmt::format("<line x1=\"{0}\" x2=\"{1}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"{3}\" stroke-width=\"2\"{4}/>\n"
                       "<text x=\"{5}\" y=\"{6:.1f}\" font-size=\"12\">{7}</text>\n",
                       left + plot_width + 16, left + plot_width + 44, legend_y, colour,
                       series.dashed ? " stroke-dasharray=\"6,4\"" : "", left + plot_width + 50, legend_y + 4,
                       svg_escape(series.label));
  }
  return svg + "</svg>\n";
}

}  // namespace cscrub::cli
