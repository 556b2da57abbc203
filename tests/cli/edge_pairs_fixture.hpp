// A random model without tokenizer files and a pair file of token ids of two lengths: what the CLI tests of
// `cscrub discover` run every method on.
#pragma once
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "../io/random_model.hpp"
#include "test_paths.hpp"

namespace cscrub::test {

// A random model (no tokenizer files; GPT-2 unless another family is given) and a pair file of ids: 3 pairs of 6
// tokens, 2 of 9.
struct EdgePairsFixture {
  std::filesystem::path dir = scratch_dir("cli-discover-edges");
  std::filesystem::path model = dir / "model", pairs = dir / "pairs.jsonl";
  explicit EdgePairsFixture(const std::string& family = "gpt2", const std::string& extra = "") {
    make_random_model(model, {.family = family, .layers = 2, .heads = 3, .d_model = 48, .vocab = 97,
                                            .n_ctx = 32, .seed = 9, .extra = extra});
    std::mt19937 generator(4);
    std::uniform_int_distribution<int> token(0, 96);
    std::ofstream out(pairs);
    for (int n = 0; n < 5; ++n) {
      nlohmann::json clean = nlohmann::json::array(), corrupted = nlohmann::json::array();
      for (int p = 0; p < (n < 3 ? 6 : 9); ++p) {
        clean.push_back(token(generator));
        corrupted.push_back(token(generator));
      }
      const int answer = token(generator);
      out << nlohmann::json{{"clean", clean}, {"corrupted", corrupted}, {"answer", answer},
                            {"distractor", (answer + 1 + token(generator) % 96) % 97}}
                 .dump()
          << "\n";
    }
  }
};

}  // namespace cscrub::test
