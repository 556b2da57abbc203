// Options renamed to the one naming scheme (outputs by format: --json, --svg, --npy, --npz) whose old names
// still work: the old name is accepted but hidden from --help, and errors about the file name the option as
// the user typed it.
#pragma once
#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace cscrub::cli {

// Adds `name` (e.g. "--svg") storing into `value`, and each of `old_names` (e.g. "--plot") as a hidden
// spelling of it; `typed` is set to `name`, or to the old name when that is the one given. Returns the
// option under its new name, for further settings (type_name, checks).
CLI::Option* add_renamed_option(CLI::App& command, const std::string& name, const std::vector<std::string>& old_names,
                                std::string& value, std::string& typed, const std::string& description);

}  // namespace cscrub::cli
