// The IOI paper's vocabulary and templates (datasets/ioi_paper_vocabulary.toml), read and checked.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "task_files.hpp"

namespace cscrub::data {

struct IoiVocabulary {
  std::filesystem::path file;
  std::vector<TaskFile::Entry> names, places, objects;
  std::vector<TaskFile::Entry> baba_templates;  // the chosen set, each checked by check_baba_template
};

// The template sets the file holds, by option value: "paper" (the 15 of the paper), "long", "late_ios",
// "early_ios".
std::vector<std::string> ioi_template_sets();

// Reads names, places, objects and the template set `template_set` (one of ioi_template_sets()).
IoiVocabulary read_ioi_vocabulary(const std::filesystem::path& file, const std::string& template_set);

// The ABBA twin of a BABA template, as the paper makes it: the first [B] and the first [A] swap places.
std::string abba_from_baba(std::string_view baba);

}  // namespace cscrub::data
