// Regression pins: the sha256 of small datasets' JSONL bytes, computed once from this generator and checked
// in. They catch any change to what a seed produces (PRNG, draw order, templates, vocabulary, tokenizer,
// JSONL layout). Such a change breaks the promise that a seed reproduces a published dataset; if it is
// intended, say so in the change and update the pins.
#include <catch2/catch.hpp>

#include "cscrub/data/tasks.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

TEST_CASE("small datasets have their pinned sha256", "[data][golden][reproducible]") {
  struct Pin {
    const char* task;
    int n;
    uint64_t seed;
    data::TaskOptions options;
    const char* sha256;
  };
  const std::vector<Pin> pins = {
      {"ioi", 24, 2024, {}, "8e92280d7b1bb5a133c549072dbba144e579bdc80ae31e423eb0d871d17819dc"},
      {"ioi",
       24,
       2024,
       {{"distribution", "abc"}, {"order", "abba"}},
       "707b9b7e646e312702ec25ea13e889bb753b9efb1ea56c614262ebee72f7648c"},
      {"induction", 24, 2024, {}, "f8927be130a8d7fc9d6fd937016cb284e8742abac01fab972044e726b52410e7"},
      {"pronoun", 24, 2024, {}, "baf5cfad38b9abab2c6bf8c00968820d745537aaebdbeac559412565f79f45c2"},
  };
  for (const auto& pin : pins) {
    INFO(pin.task << " n=" << pin.n << " seed=" << pin.seed);
    CHECK(sha256_hex(jsonl_bytes(data::make_dataset(pin.task, pin.n, pin.seed, gpt2_tokenizer(), pin.options))) ==
          pin.sha256);
  }
}
