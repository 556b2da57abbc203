#include "renamed_option.hpp"

namespace cscrub::cli {

CLI::Option* add_renamed_option(CLI::App& command, const std::string& name, const std::vector<std::string>& old_names,
                                std::string& value, std::string& typed, const std::string& description) {
  typed = name;
  CLI::Option* option = command.add_option(name, value, description);
  for (const std::string& old_name : old_names) {
    CLI::Option* alias = command.add_option_function<std::string>(
        old_name,
        [&value, &typed, old_name, name, option](const std::string& given) {
          if (option->count() > 0) throw CLI::ValidationError(old_name, "is the old name of " + name + ": give one of them");
          value = given;
          typed = old_name;
        },
        "the old name of " + name);
    alias->group("");  // hidden from --help
  }
  return option;
}

}  // namespace cscrub::cli
