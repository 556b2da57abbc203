// Error messages quote what users wrote (task names, TOML keys, dataset texts), which can hold line
// breaks or terminal control codes: printed as they are, one message would span several lines or rewrite
// the terminal. Every message is printed (and every Python exception raised) through one_line().
#pragma once
#include <string>
#include <string_view>

namespace cscrub::app {

// `text` with each control character (line breaks, tabs, escape, ...) written as an escape: \n, \r, \t or
// \xHH. Other bytes, UTF-8 included, are kept.
std::string one_line(std::string_view text);

}  // namespace cscrub::app
