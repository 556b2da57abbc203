// `cscrub compare --svg`: the chart fits its labels (a long hypothesis name, "100.0%", "+100.0 pts" inside the
// picture) and draws the paired differences to the first hypothesis as a second panel whose bars agree with
// the --json numbers.
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>

#include "json_file.hpp"
#include "test_paths.hpp"

using namespace cscrub::test;
namespace fs = std::filesystem;

namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct SvgText {
  double x = 0, font_size = 0;
  std::string anchor, text;
};

std::vector<SvgText> texts(const std::string& svg) {
  static const std::regex element(R"re(<text x="([-\d.]+)" y="[-\d.]+" font-size="([\d.]+)"([^>]*)>([^<]*)</text>)re");
  static const std::regex anchor(R"re(text-anchor="(\w+)")re");
  std::vector<SvgText> found;
  for (auto it = std::sregex_iterator(svg.begin(), svg.end(), element); it != std::sregex_iterator(); ++it) {
    std::smatch which;
    const std::string attributes = (*it)[3];
    found.push_back({std::stod((*it)[1]), std::stod((*it)[2]),
                     std::regex_search(attributes, which, anchor) ? which[1].str() : "start", (*it)[4]});
  }
  return found;
}

// Characters, counting a UTF-8 sequence once (the escaped names here are ASCII).
size_t characters(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

// "+12.3 pts": a difference (a fraction) as the chart writes it.
std::string fmt_points(double difference) {
  char text[32];
  std::snprintf(text, sizeof text, "%+.1f pts", 100 * difference);
  return text;
}

}  // namespace

TEST_CASE("cscrub compare --svg fits long names and values and draws the paired differences", "[cli][compare]") {
  const fs::path dir = scratch_dir("compare-chart");
  const std::string long_name = "bundled IOI: head 0.1 alone, every other head and MLP resampled from other prompts";
  {
    std::string toml = read_text(source_dir() / "hypotheses" / "gpt2-ioi-mini" / "s_mover_only.toml");
    const fs::path base = source_dir() / "hypotheses" / "gpt2-ioi-mini" / "ioi.toml";
    const size_t name = toml.find("name = \""), end = toml.find('\n', name);
    REQUIRE((name != std::string::npos && end != std::string::npos));
    REQUIRE(toml.substr(0, name).find("extends = \"ioi.toml\"") != std::string::npos);
    std::ofstream(dir / "long.toml") << "extends = \"" << base.string() << "\"\nname = \"" << long_name << "\"\n"
                                     << toml.substr(end + 1);
  }
  const fs::path svg_path = dir / "chart.svg", json_path = dir / "chart.json";
  const CommandResult result =
      run_command(shell_quote(cli_path().string()) + " compare builtin:none builtin:full " +
                  shell_quote((dir / "long.toml").string()) + " --n 40 --seeds 2 --quiet --svg " +
                  shell_quote(svg_path.string()) + " --json " + shell_quote(json_path.string()));
  INFO(result.output);
  REQUIRE(result.exit_code == 0);
  const std::string svg = read_text(svg_path);
  std::smatch size;
  REQUIRE(std::regex_search(svg, size, std::regex(R"re(<svg [^>]*width="([\d.]+)")re")));
  const double width = std::stod(size[1]);

  // Every text inside the picture, at 0.6 em a character (Helvetica's widest common letters are wider, its
  // average narrower).
  const std::vector<SvgText> all = texts(svg);
  REQUIRE(all.size() > 20);
  for (const SvgText& text : all) {
    INFO(text.text << " at x " << text.x << " in a picture " << width << " wide");
    const double extent = 0.6 * text.font_size * static_cast<double>(characters(text.text));
    const double left = text.anchor == "end" ? text.x - extent : text.anchor == "middle" ? text.x - extent / 2 : text.x;
    CHECK(left >= 0);
    CHECK(left + extent <= width);
  }

  // The second panel: its axis label, the reference's note, and each other hypothesis' difference as --json has it.
  const nlohmann::json comparison = read_json_file(json_path);
  CHECK(svg.find("minus builtin:none, percentage points (paired, 95%)") != std::string::npos);
  CHECK(svg.find(">reference</text>") != std::string::npos);
  CHECK(svg.find(std::string(">").append(long_name, 0, 20)) != std::string::npos);
  for (size_t i = 1; i < 3; ++i) {
    const double difference = comparison["hypotheses"][i]["difference_to_first"]["value"];
    const std::string label = fmt_points(difference);
    INFO(comparison["hypotheses"][i]["name"] << ": " << label);
    CHECK(svg.find(std::string(">").append(label).append("</text>")) != std::string::npos);
  }
  CHECK(svg.find(">+100.0 pts</text>") != std::string::npos);  // builtin:full recovers all of it, none nothing
}
