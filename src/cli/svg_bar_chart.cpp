#include "svg_bar_chart.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>

#include "svg_text.hpp"

namespace cscrub::cli {
namespace {

constexpr double kRowHeight = 34, kTop = 60, kBottom = 50, kGap = 30;
constexpr double kLabelFont = 13, kValueFont = 12, kTitleFont = 17;

// An axis from `low` to `high` (fractions) with ticks every `step`, drawn `width` pixels wide from `left`.
struct Axis {
  double low = 0, high = 1, step = 0.1;
  double left = 0, width = 0;
  double x(double v) const { return left + (v - low) / (high - low) * width; }
};

// The tick step (0.1, 0.2, 0.5, 1, 2, ...) that gives at most 10 intervals over [low, high].
double tick_step(double low, double high) {
  for (double step = 0.1;; step *= 10)
    for (double multiple : {1.0, 2.0, 5.0})
      if ((high - low) / (step * multiple) <= 10 + 1e-9) return step * multiple;
}

// [low, high] widened to hold every finite value, interval end and `always`, and rounded out to the ticks.
Axis fitted_axis(const std::vector<Bar>& rows, size_t first_row, double always_low, double always_high) {
  double low = always_low, high = always_high;
  for (size_t i = first_row; i < rows.size(); ++i)
    for (double v : {rows[i].value, rows[i].low, rows[i].high})
      if (std::isfinite(v)) {
        low = std::min(low, v);
        high = std::max(high, v);
      }
  if (high - low < 0.1) high = low + 0.1;
  Axis axis;
  axis.step = tick_step(low, high);
  axis.low = std::floor(low / axis.step - 1e-9) * axis.step;
  axis.high = std::ceil(high / axis.step + 1e-9) * axis.step;
  axis.step = tick_step(axis.low, axis.high);
  return axis;
}

// One panel: grid lines and tick labels, the axis label below, and each row's bar, interval and value.
void draw_panel(std::string& svg, const Axis& axis, const std::vector<Bar>& rows, size_t first_row,
                const std::string& axis_label, const std::function<std::string(double)>& tick_text,
                const std::function<std::string(double)>& value_text, const std::vector<double>& major_ticks,
                double plot_bottom) {
  for (double tick = axis.low; tick <= axis.high + 1e-9 * axis.step; tick += axis.step) {
    const double at = std::fabs(tick) < 1e-9 * axis.step ? 0 : tick;
    const bool major = std::any_of(major_ticks.begin(), major_ticks.end(),
                                   [&](double m) { return std::fabs(at - m) < 1e-6; });
    svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1}\" y2=\"{2}\" stroke=\"{3}\" stroke-width=\"{4}\"/>\n",
                       axis.x(at), kTop - 8, plot_bottom, major ? "#555" : "#ddd", major ? 1.5 : 1);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\" fill=\"#333\">{}</text>\n",
                       axis.x(at), plot_bottom + 18, kValueFont, svg_escape(tick_text(at)));
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" font-size=\"{}\" text-anchor=\"middle\">{}</text>\n",
                     axis.left + axis.width / 2, plot_bottom + kBottom - 10, kLabelFont, svg_escape(axis_label));
  for (size_t i = first_row; i < rows.size(); ++i) {
    const Bar& bar = rows[i];
    if (!std::isfinite(bar.value)) continue;
    const double y = kTop + kRowHeight * static_cast<double>(i), mid = y + kRowHeight / 2;
    const double zero = axis.x(0), end = axis.x(bar.value);
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{}\" fill=\"#4c78a8\" opacity=\"0.85\"/>\n",
                       std::min(zero, end), y + 7, std::fabs(end - zero), kRowHeight - 14);
    const bool interval = std::isfinite(bar.low) && std::isfinite(bar.high);
    if (interval) {
      svg += fmt::format("<line x1=\"{:.1f}\" x2=\"{:.1f}\" y1=\"{:.1f}\" y2=\"{:.1f}\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                         axis.x(bar.low), axis.x(bar.high), mid, mid);
      for (double v : {bar.low, bar.high})
        svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{0:.1f}\" y1=\"{1:.1f}\" y2=\"{2:.1f}\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                           axis.x(v), mid - 6, mid + 6);
    }
    // The value right of the bar and its interval; the panel's right margin leaves room for it.
    const double right = interval ? std::max({bar.high, bar.value, 0.0}) : std::max(bar.value, 0.0);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" fill=\"#222\">{}</text>\n", axis.x(right) + 6,
                       mid + 4, kValueFont, svg_escape(value_text(bar.value)));
  }
}

}  // namespace

double text_width(const std::string& text, double font_size) {
  size_t characters = 0;
  for (size_t offset = 0; offset < text.size(); ++characters)
    if (!io::decode_utf8(text, offset)) ++offset;  // a stray byte is drawn as one replacement character
  return 0.62 * font_size * static_cast<double>(characters);
}

std::string svg_bar_chart(const std::string& title, const std::string& axis_label, const std::vector<Bar>& bars,
                          const DifferencePanel* differences) {
  auto percent = [](double v) { return fmt::format("{:.1f}%", 100 * v); };
  auto percent_tick = [](double v) { return fmt::format("{:.0f}%", 100 * v); };
  auto points = [](double v) { return fmt::format("{:+.1f} pts", 100 * v); };
  auto points_tick = [](double v) { return v == 0 ? std::string("0") : fmt::format("{:+.0f}", 100 * v); };

  double label_width = 120;
  for (const Bar& bar : bars) label_width = std::max(label_width, text_width(bar.label, kLabelFont) + 20);
  // The widest value label, e.g. "-100.0%" or "+100.0 pts", fits right of the largest interval end.
  auto value_margin = [&](const std::vector<Bar>& rows, const auto& text) {
    double widest = text_width(text(-1.0), kValueFont);
    for (const Bar& row : rows) widest = std::max(widest, text_width(text(row.value), kValueFont));
    return widest + 12;
  };

  Axis values = fitted_axis(bars, 0, 0, 1);
  values.left = label_width;
  values.width = 440;
  double width = values.left + values.width + value_margin(bars, percent);
  Axis changes;
  if (differences) {
    changes = fitted_axis(differences->rows, 1, 0, 0);
    changes.left = width + kGap;
    changes.width = 280;
    width = changes.left + changes.width + value_margin(differences->rows, points);
  }
  width = std::ceil(std::max(width, 16 + text_width(title, kTitleFont) + 16));
  const double plot_bottom = kTop + kRowHeight * static_cast<double>(bars.size());
  const double height = plot_bottom + kBottom;

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"Helvetica, Arial, sans-serif\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"16\" y=\"28\" font-size=\"{2}\" font-weight=\"bold\">{3}</text>\n",
      width, height, kTitleFont, svg_escape(title));
  for (size_t i = 0; i < bars.size(); ++i)
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"end\">{}</text>\n", label_width - 10,
                       kTop + kRowHeight * static_cast<double>(i) + kRowHeight / 2 + 4, kLabelFont,
                       svg_escape(bars[i].label));
  draw_panel(svg, values, bars, 0, axis_label, percent_tick, percent, {0.0, 1.0}, plot_bottom);
  if (differences) {
    draw_panel(svg, changes, differences->rows, 1, differences->axis_label, points_tick, points, {0.0}, plot_bottom);
    if (!bars.empty() && !differences->first_row_note.empty())
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" fill=\"#666\" font-style=\"italic\">{}</text>\n",
                         changes.x(0) + 6, kTop + kRowHeight / 2 + 4, kValueFont,
                         svg_escape(differences->first_row_note));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace cscrub::cli
