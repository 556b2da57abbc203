// Paths from Python: str, bytes or os.PathLike.
#pragma once
#include <pybind11/pybind11.h>

#include <filesystem>

namespace cscrub::python {

// Raises cscrub.Error naming `argument` for anything that is not a path.
std::filesystem::path path_of(const pybind11::handle& value, const char* argument);

}  // namespace cscrub::python
