#include "ioi_vocabulary.hpp"

#include <algorithm>

#include "cscrub/error.hpp"
#include "prompt_layout.hpp"

namespace cscrub::data {
namespace {

// Option value -> array name in the vocabulary file.
const char* template_key(const std::string& template_set) {
  if (template_set == "paper") return "baba_templates";
  if (template_set == "long") return "baba_long_templates";
  if (template_set == "late_ios") return "baba_late_ios";
  return "baba_early_ios";
}

// A BABA template names S, then IO, then S again and ends with the IO name the model must predict.
void check_baba_template(const TaskFile& file, const TaskFile::Entry& entry) {
  const auto names = placeholders(entry.text);
  const auto count = [&](const char* name) { return std::count(names.begin(), names.end(), name); };
  const bool only_known = std::all_of(names.begin(), names.end(), [](const std::string& name) {
    return name == "[A]" || name == "[B]" || name == "[PLACE]" || name == "[OBJECT]";
  });
  const auto first_a = std::find(names.begin(), names.end(), "[A]");
  const bool b_first = std::find(names.begin(), first_a, "[B]") != first_a;
  const std::string_view text = entry.text;
  const bool ends_with_io = text.size() >= 4 && text.substr(text.size() - 4) == " [A]";
  if (!only_known || count("[A]") != 2 || count("[B]") != 2 || !b_first || !ends_with_io)
    throw Error(file.where(entry) + "IOI template '" + entry.text +
                "' must name [B] before [A], hold [A] twice "
                "and [B] twice (besides [PLACE] and [OBJECT]) and end with ' [A]'");
}

}  // namespace

std::vector<std::string> ioi_template_sets() { return {"paper", "long", "late_ios", "early_ios"}; }

IoiVocabulary read_ioi_vocabulary(const std::filesystem::path& path, const std::string& template_set) {
  const TaskFile file(path);
  IoiVocabulary vocabulary{.file = path,
                           .names = file.entries("names"),
                           .places = file.entries("places"),
                           .objects = file.entries("objects"),
                           .baba_templates = file.entries(template_key(template_set))};
  if (vocabulary.names.size() < 3)
    throw Error(path.string() + ": 'names' needs at least 3 names (the p_ABC distribution uses three)");
  for (const auto& entry : vocabulary.baba_templates) check_baba_template(file, entry);
  return vocabulary;
}

std::string abba_from_baba(std::string_view baba) {
  std::string abba(baba);
  const size_t first_b = abba.find("[B]");
  const size_t first_a = abba.find("[A]");
  abba[first_b + 1] = 'A';
  abba[first_a + 1] = 'B';
  return abba;
}

}  // namespace cscrub::data
