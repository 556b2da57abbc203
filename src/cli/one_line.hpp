// The CLI prints every message through app::one_line (cscrub/app/one_line.hpp), as the Python module raises them.
#pragma once
#include "cscrub/app/one_line.hpp"

namespace cscrub::cli {

using app::one_line;

}  // namespace cscrub::cli
