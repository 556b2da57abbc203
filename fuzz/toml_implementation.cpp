// toml++'s parser compiled into the hypothesis fuzzer with the fuzzer's instrumentation: Debian ships it as
// a prebuilt shared library, whose code libFuzzer could neither see (no coverage feedback) nor check
// (no ASan). These definitions take precedence over the library's (same headers, same options).
//
// That library is built by GCC with NDEBUG, where toml++'s internal assertions and assumptions compile to
// nothing; so they do here. One of them is wrong in 3.3.0: table headers such as "[=" or "[[[1]]]" reach
// parse_key() with a character that cannot start a key, which it then reports as a syntax error (fixed
// upstream by marzer/tomlplusplus pull request #301); tests/graph/test_bad_hypotheses.cpp checks the error.
#define TOML_ASSERT(expr) static_cast<void>(0)
#define TOML_IMPLEMENTATION
#include <toml++/toml.h>
