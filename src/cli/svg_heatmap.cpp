#include "svg_heatmap.hpp"

#include <fmt/format.h>

#include "svg_text.hpp"

#include <algorithm>
#include <array>
#include <cassert>
#include <cmath>

namespace cscrub::cli {
namespace {

struct Rgb {
  double r, g, b;
};

// ColorBrewer's RdBu (reversed: blue for negative) with a pure white centre, and its Blues.
constexpr std::array<Rgb, 11> kDiverging{{{5, 48, 97}, {33, 102, 172}, {67, 147, 195}, {146, 197, 222},
                                          {209, 229, 240}, {255, 255, 255}, {253, 219, 199}, {244, 165, 130},
                                          {214, 96, 77}, {178, 24, 43}, {103, 0, 31}}};
constexpr std::array<Rgb, 9> kSequential{{{255, 255, 255}, {222, 235, 247}, {198, 219, 239}, {158, 202, 225},
                                          {107, 174, 214}, {66, 146, 198}, {33, 113, 181}, {8, 81, 156}, {8, 48, 107}}};
constexpr const char* kMaskedFill = "#e4e4e4";
constexpr const char* kFont = "Helvetica, Arial, sans-serif";

// Piecewise-linear between evenly spaced stops; t in [0, 1].
template <size_t N>
Rgb interpolate(const std::array<Rgb, N>& stops, double t) {
  t = std::clamp(t, 0.0, 1.0) * (N - 1);
  const size_t low = std::min(static_cast<size_t>(t), N - 2);
  const double f = t - static_cast<double>(low);
  const Rgb& a = stops[low];
  const Rgb& b = stops[low + 1];
  return {a.r + (b.r - a.r) * f, a.g + (b.g - a.g) * f, a.b + (b.b - a.b) * f};
}

std::string hex(const Rgb& c) {
  return fmt::format("#{:02x}{:02x}{:02x}", static_cast<int>(std::lround(c.r)), static_cast<int>(std::lround(c.g)),
                     static_cast<int>(std::lround(c.b)));
}

// Relative luminance (sRGB), to pick black or white text on a cell.
double luminance(const Rgb& c) {
  auto channel = [](double v) {
    v /= 255.0;
    return v <= 0.03928 ? v / 12.92 : std::pow((v + 0.055) / 1.055, 2.4);
  };
  return 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
}


// UTF-8 code points, not bytes.
size_t characters(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text)
    if ((c & 0xC0) != 0x80) ++count;
  return count;
}

// Text width estimate (Helvetica and Arial average about half an em per character), for layout only.
double text_width(const std::string& text, double font_size) {
  return static_cast<double>(characters(text)) * font_size * 0.5;
}

// The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 (x 10^k) at least `value`: colour scales end on round numbers.
double round_up(double value) {
  if (!(value > 0) || !std::isfinite(value)) return 1.0;
  const double magnitude = std::pow(10.0, std::floor(std::log10(value)));
  for (double step : {1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0})
    if (step * magnitude >= value * (1 - 1e-9)) return step * magnitude;
  return 10 * magnitude;
}

// A tick label: as few decimals as the value needs (at most 6).
std::string tick_label(double value) {
  for (int decimals = 0; decimals <= 6; ++decimals) {
    const double scale = std::pow(10.0, decimals);
    if (std::fabs(std::round(value * scale) - value * scale) < 1e-6) return figure_number(value, decimals);
  }
  return figure_number(value, 6);
}

// Splits `text` at spaces into lines of at most `width` pixels (a word longer than that gets its own line).
std::vector<std::string> wrap(const std::string& text, double font_size, double width) {
  std::vector<std::string> lines;
  std::string line;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    const std::string candidate = line.empty() ? word : line + " " + word;
    if (!line.empty() && text_width(candidate, font_size) > width) {
      lines.push_back(line);
      line = word;
    } else {
      line = candidate;
    }
    start = end + 1;
  }
  if (!line.empty()) lines.push_back(line);
  return lines;
}

}  // namespace

std::string figure_number(double value, int decimals) {
  std::string text = fmt::format("{:.{}f}", value, decimals);
  if (text.front() == '-') {
    if (text.find_first_not_of("-0.") == std::string::npos) return text.substr(1);  // "-0.00"
    text = "\u2212" + text.substr(1);
  }
  return text;
}

std::string svg_heatmap(const Heatmap& heatmap) {
  const int rows = static_cast<int>(heatmap.row_labels.size()), columns = static_cast<int>(heatmap.column_labels.size());
  assert(heatmap.values.size() == static_cast<size_t>(rows * columns));
  const bool diverging = heatmap.scale == Heatmap::Scale::diverging;
  double largest = 0;
  bool any_masked = false;
  for (double value : heatmap.values) {
    if (std::isfinite(value)) largest = std::max(largest, std::fabs(value));
    else any_masked = true;
  }
  const double limit = heatmap.limit > 0 ? heatmap.limit : round_up(largest);
  auto colour = [&](double value) {
    return diverging ? interpolate(kDiverging, 0.5 + value / (2 * limit)) : interpolate(kSequential, value / limit);
  };

  // Layout: title block, then [row labels | grid | colour bar], then column labels and the axis title.
  const double cell = std::clamp(std::min(560.0 / std::max(columns, 1), 460.0 / std::max(rows, 1)), 14.0, 64.0);
  const double label_font = cell >= 24 ? 13 : 11;
  double row_label_width = 0, column_label_width = 0;
  for (const auto& label : heatmap.row_labels) row_label_width = std::max(row_label_width, text_width(label, label_font));
  for (const auto& label : heatmap.column_labels)
    column_label_width = std::max(column_label_width, text_width(label, label_font));
  const bool rotate_columns = column_label_width > cell - 4;  // long labels (tokens) stand at an angle
  const double column_label_height = rotate_columns ? column_label_width * 0.72 + 10 : label_font + 6;

  const double margin = 20;
  const double grid_left = margin + 24 + row_label_width + 8;  // axis title, labels, gap
  const double grid_width = cell * columns, grid_height = cell * rows;
  const double bar_left = grid_left + grid_width + 28, bar_width = 16;
  const double caption_font = 12;
  const double bar_height = std::max({grid_height, 150.0, text_width(heatmap.colour_label, caption_font) + 16});
  const double low = diverging ? -limit : 0;
  auto tick_value = [&](int i) { return low + (limit - low) * i / 4.0; };  // five ticks, ends included
  double bar_labels_width = 0;
  for (int i = 0; i <= 4; ++i)  // digits are wider than the average letter
    bar_labels_width = std::max(bar_labels_width, 1.2 * text_width(tick_label(tick_value(i)), 11));
  bar_labels_width += 10;
  const double bar_caption_width = heatmap.colour_label.empty() ? 0 : 24;
  const double content_right = bar_left + bar_width + 8 + bar_labels_width + bar_caption_width + margin;
  // The plot, the title or the subtitle's longest line (up to 760 px, beyond which lines wrap) sets the width.
  std::vector<std::string> subtitle_lines;  // the subtitle's own lines ('\n')
  double subtitle_width = 0;
  for (size_t start = 0; start < heatmap.subtitle.size();) {
    size_t end = heatmap.subtitle.find('\n', start);
    if (end == std::string::npos) end = heatmap.subtitle.size();
    subtitle_lines.push_back(heatmap.subtitle.substr(start, end - start));
    subtitle_width = std::max(subtitle_width, text_width(subtitle_lines.back(), 12));
    start = end + 1;
  }
  const double width = std::ceil(std::max({content_right, margin * 2 + text_width(heatmap.title, 17) * 1.08,
                                           margin * 2 + std::min(subtitle_width, 760.0)}));
  std::vector<std::string> subtitle;
  for (const auto& line : subtitle_lines)
    for (auto& piece : wrap(line, 12, width - 2 * margin)) subtitle.push_back(piece);
  const double title_height = 44 + 17.0 * static_cast<double>(subtitle.size());
  const double grid_top = title_height + 12;
  const double bar_top = grid_top;
  const double bottom_of_grid = grid_top + std::max(grid_height, bar_height);
  const double legend_height = any_masked && !heatmap.masked_label.empty() ? 26 : 0;
  const double height = std::ceil(std::max(grid_top + grid_height + column_label_height + 30, bottom_of_grid + 8) +
                                  legend_height + margin / 2);

  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0:.0f}\" height=\"{1:.0f}\" viewBox=\"0 0 {0:.0f} {1:.0f}\" "
      "font-family=\"{2}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      width, height, kFont);
  svg += fmt::format("<text x=\"{}\" y=\"30\" font-size=\"17\" font-weight=\"bold\" fill=\"#111\">{}</text>\n", margin,
                     svg_escape(heatmap.title));
  for (size_t i = 0; i < subtitle.size(); ++i)
    svg += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"12\" fill=\"#555\">{}</text>\n", margin,
                       52 + 17 * i, svg_escape(subtitle[i]));

  // Cells, then their values.
  // Values get enough decimals for two significant digits at the scale's end, and a font that fits the cell.
  const int decimals = limit >= 1 ? heatmap.decimals
                                  : std::max(heatmap.decimals, 1 - static_cast<int>(std::floor(std::log10(limit))));
  size_t longest = 1;
  for (double value : heatmap.values)
    if (std::isfinite(value)) longest = std::max(longest, characters(figure_number(value, decimals)));
  const double value_font = std::min({13.0, cell * 0.3, 0.85 * cell / (0.55 * static_cast<double>(longest))});
  const bool annotate = value_font >= 8.5 && rows * columns <= 400;  // only when the numbers stay legible
  for (int r = 0; r < rows; ++r) {
    for (int c = 0; c < columns; ++c) {
      const double value = heatmap.values[static_cast<size_t>(r * columns + c)];
      const double x = grid_left + c * cell, y = grid_top + r * cell;
      const bool masked = !std::isfinite(value);
      const Rgb fill = masked ? Rgb{228, 228, 228} : colour(value);
      svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\" "
                         "stroke=\"white\" stroke-width=\"1\"/>\n",
                         x, y, cell, cell, masked ? kMaskedFill : hex(fill));
      if (annotate && !masked && std::fabs(value) >= heatmap.annotate_from)
        svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{:.1f}\" text-anchor=\"middle\" "
                           "dominant-baseline=\"central\" fill=\"{}\">{}</text>\n",
                           x + cell / 2, y + cell / 2, value_font, luminance(fill) < 0.36 ? "white" : "#222",
                           figure_number(value, decimals));
    }
  }
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"none\" stroke=\"#888\" "
                     "stroke-width=\"1\"/>\n",
                     grid_left, grid_top, grid_width, grid_height);

  // Row labels and the row axis title (rotated, left).
  for (int r = 0; r < rows; ++r)
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"end\" dominant-baseline=\"central\" "
                       "fill=\"#222\">{}</text>\n",
                       grid_left - 7, grid_top + (r + 0.5) * cell, label_font, svg_escape(heatmap.row_labels[static_cast<size_t>(r)]));
  svg += fmt::format("<text transform=\"translate({:.1f},{:.1f}) rotate(-90)\" font-size=\"14\" text-anchor=\"middle\" "
                     "fill=\"#111\">{}</text>\n",
                     margin + 12, grid_top + grid_height / 2, svg_escape(heatmap.row_axis));

  // Column labels (under the grid) and the column axis title.
  const double labels_top = grid_top + grid_height + 8;
  for (int c = 0; c < columns; ++c) {
    const double x = grid_left + (c + 0.5) * cell;
    const std::string& label = heatmap.column_labels[static_cast<size_t>(c)];
    if (rotate_columns)
      svg += fmt::format("<text transform=\"translate({:.1f},{:.1f}) rotate(-45)\" font-size=\"{}\" text-anchor=\"end\" "
                         "fill=\"#222\">{}</text>\n",
                         x + 4, labels_top + 6, label_font, svg_escape(label));
    else
      svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"{}\" text-anchor=\"middle\" fill=\"#222\">{}</text>\n",
                         x, labels_top + label_font, label_font, svg_escape(label));
  }
  svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"14\" text-anchor=\"middle\" fill=\"#111\">{}</text>\n",
                     grid_left + grid_width / 2, labels_top + column_label_height + 14, svg_escape(heatmap.column_axis));

  // Colour bar: a gradient through the same stops the cells use, ticks on its right.
  svg += "<defs><linearGradient id=\"colour-bar\" x1=\"0\" y1=\"1\" x2=\"0\" y2=\"0\">\n";
  const int stops = diverging ? static_cast<int>(kDiverging.size()) : static_cast<int>(kSequential.size());
  for (int i = 0; i < stops; ++i) {
    const double t = static_cast<double>(i) / (stops - 1);
    svg += fmt::format("<stop offset=\"{:.4f}\" stop-color=\"{}\"/>\n", t,
                       hex(diverging ? kDiverging[static_cast<size_t>(i)] : kSequential[static_cast<size_t>(i)]));
  }
  svg += "</linearGradient></defs>\n";
  svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"{}\" height=\"{:.1f}\" fill=\"url(#colour-bar)\" "
                     "stroke=\"#888\" stroke-width=\"1\"/>\n",
                     bar_left, bar_top, bar_width, bar_height);
  for (int i = 0; i <= 4; ++i) {
    const double value = tick_value(i);
    const double y = bar_top + bar_height * (1 - i / 4.0);
    svg += fmt::format("<line x1=\"{0:.1f}\" x2=\"{1:.1f}\" y1=\"{2:.1f}\" y2=\"{2:.1f}\" stroke=\"#444\" stroke-width=\"1\"/>\n",
                       bar_left + bar_width, bar_left + bar_width + 5, y);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"11\" dominant-baseline=\"central\" fill=\"#222\">{}</text>\n",
                       bar_left + bar_width + 8, y, tick_label(value));
  }
  if (!heatmap.colour_label.empty())
    svg += fmt::format("<text transform=\"translate({:.1f},{:.1f}) rotate(90)\" font-size=\"{}\" text-anchor=\"middle\" "
                       "fill=\"#333\">{}</text>\n",
                       bar_left + bar_width + 8 + bar_labels_width + 6, bar_top + bar_height / 2, caption_font,
                       svg_escape(heatmap.colour_label));

  // Legend for grey cells.
  if (legend_height > 0) {
    const double y = height - margin / 2 - 18;
    svg += fmt::format("<rect x=\"{:.1f}\" y=\"{:.1f}\" width=\"14\" height=\"14\" fill=\"{}\" stroke=\"#888\" "
                       "stroke-width=\"0.5\"/>\n",
                       grid_left, y, kMaskedFill);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" font-size=\"12\" dominant-baseline=\"central\" fill=\"#333\">{}</text>\n",
                       grid_left + 20, y + 7, svg_escape(heatmap.masked_label));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace cscrub::cli
