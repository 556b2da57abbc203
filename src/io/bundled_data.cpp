#include "cscrub/io/bundled_data.hpp"

#include <dlfcn.h>

#include <string>
#include <vector>

#include "cscrub/error.hpp"

namespace cscrub::io {

namespace {

std::filesystem::path find_code_file() {
  // dladdr names the object that holds a given address: this function's, so the executable or the module.
  Dl_info info{};
  if (::dladdr(reinterpret_cast<const void*>(&code_file), &info) == 0 || info.dli_fname == nullptr) return {};
  std::error_code error;
  std::filesystem::path path = std::filesystem::canonical(info.dli_fname, error);
  // An executable reports its name as run ("./cscrub", or a bare name found on $PATH): /proc/self/exe has it.
  if (error) path = std::filesystem::canonical("/proc/self/exe", error);
  return error ? std::filesystem::path() : path;
}

}  // namespace

std::filesystem::path code_file() {
  // Found once: a module loaded through a relative $PYTHONPATH is named relative to the directory it was
  // loaded from, which the program may leave later.
  static const std::filesystem::path file = find_code_file();
  return file;
}

std::optional<std::filesystem::path> bundled_data_dir() {
  const std::filesystem::path file = code_file();
  if (file.empty()) return std::nullopt;
  // Only the places an install or a build puts binaries, so that a copy elsewhere never picks up another tree's
  // files by walking up into it.
  const std::filesystem::path directory = file.parent_path();
  std::vector<std::filesystem::path> prefixes = {directory, directory.parent_path()};
  const std::string packages = directory.filename().string();
  if ((packages == "dist-packages" || packages == "site-packages") &&
      directory.parent_path().filename().string().starts_with("python"))
    prefixes.push_back(directory.parent_path().parent_path().parent_path());
  for (const std::filesystem::path& prefix : prefixes) {
    std::error_code ignored;
    const std::filesystem::path candidate = prefix / "share" / "cscrub";
    if (std::filesystem::is_directory(candidate, ignored)) return candidate;
  }
  return std::nullopt;
}

std::filesystem::path bundled_file(const std::filesystem::path& relative, const char* override_variable) {
  // Links resolved: a build tree's share/cscrub links to the sources, which messages should name.
  if (const std::optional<std::filesystem::path> data = bundled_data_dir()) {
    std::error_code error;
    std::filesystem::path resolved = std::filesystem::weakly_canonical(*data / relative, error);
    return error ? *data / relative : resolved;
  }
  throw Error("cscrub's bundled files (share/cscrub/" + relative.string() + ") are not beside " +
                  code_file().string() + " nor in its parent directories",
              std::string("install cscrub with `cmake --install BUILD --prefix DIR`, or set ") + override_variable);
}

}  // namespace cscrub::io
