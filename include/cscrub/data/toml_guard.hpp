// A lexical pre-check for TOML text that Debian 12's toml++ (3.3.0) would misread: every TOML file cscrub
// reads (hypotheses, task vocabularies) passes it before toml++ sees it.
#pragma once
#include <string>
#include <string_view>

namespace cscrub::data {

// Throws cscrub::Error (file:line:column) for non-ASCII characters outside strings and comments
// (toml_guard.cpp says why).
void refuse_what_toml_cannot_read(std::string_view text, const std::string& file);

}  // namespace cscrub::data
