// "Did you mean ...?" for hypothesis files: the closest valid name, when it is close enough to be a
// plausible typo (cscrub/suggest.hpp has the edit distance).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace cscrub::graph {

// The closest candidate (first on ties, so callers order candidates by preference), or "" when none is
// plausibly what was meant.
std::string closest_name(std::string_view name, const std::vector<std::string>& candidates);
// " (did you mean 'x'?)" or "".
std::string did_you_mean(std::string_view name, const std::vector<std::string>& candidates);
// "a, b, c" for hints.
std::string join(const std::vector<std::string>& names, std::string_view separator = ", ");

}  // namespace cscrub::graph
