// The bundled model (models/gpt2-ioi-mini), measured with cscrub's own engine on cscrub's own datasets:
// IOI on the paper's 15 templates (ABBA and BABA) and induction on repeated random sequences. The numbers
// printed here are the ones the model card quotes.
#include <catch2/catch.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <set>

#include "cscrub/data/tasks.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/io/model_dir.hpp"
#include "data_test_support.hpp"

using namespace cscrub;
using namespace cscrub::test;

namespace {

const engine::Weights& bundled_weights() {
  static const engine::Weights weights = [] {
    const auto file = bundled_model_dir() / "model.safetensors";
    if (!std::filesystem::exists(file))
      FAIL(file.string() << " is missing: train it with tools/train_bundled_model.py");
    return io::load_weights(bundled_model_dir());
  }();
  return weights;
}

// The examples' tokens, right-padded into one [batch, pos] block (causal attention: padding after a
// sequence never changes its logits).
struct PaddedBatch {
  std::vector<int32_t> ids;
  int batch = 0, positions = 0;
  engine::TokenBatch view() const { return {ids, batch, positions}; }
};

PaddedBatch pad(const std::vector<std::vector<int32_t>>& sequences, int32_t filler) {
  PaddedBatch padded;
  padded.batch = static_cast<int>(sequences.size());
  for (const auto& sequence : sequences)
    padded.positions = std::max(padded.positions, static_cast<int>(sequence.size()));
  padded.ids.assign(static_cast<size_t>(padded.batch * padded.positions), filler);
  for (size_t b = 0; b < sequences.size(); ++b)
    std::copy(sequences[b].begin(), sequences[b].end(), padded.ids.begin() + static_cast<long>(b) * padded.positions);
  return padded;
}

struct Summary {
  double mean = 0, standard_error = 0;
};
Summary summarize(const std::vector<double>& values) {
  Summary summary;
  for (double v : values) summary.mean += v;
  summary.mean /= static_cast<double>(values.size());
  double variance = 0;
  for (double v : values) variance += (v - summary.mean) * (v - summary.mean);
  variance /= static_cast<double>(values.size() - 1);
  summary.standard_error = std::sqrt(variance / static_cast<double>(values.size()));
  return summary;
}

}  // namespace

TEST_CASE("bundled model: IO preferred to S on the IOI paper's templates", "[data][bundled][ioi]") {
  const auto& weights = bundled_weights();
  const auto& tokenizer = gpt2_tokenizer();
  // 3,000 prompts: 1,500 ABBA + 1,500 BABA over the paper's 15 templates, every name, place and object.
  const auto dataset = data::make_dataset("ioi", 3000, 20220930, tokenizer);
  std::set<std::string> names, places, objects, templates;
  const int io_f = *dataset.schema.feature_index("io_name"), s_f = *dataset.schema.feature_index("s_name");
  for (const auto& example : dataset.examples) {
    names.insert(example.features[static_cast<size_t>(io_f)]);
    names.insert(example.features[static_cast<size_t>(s_f)]);
    places.insert(feature(dataset, example, "place"));
    objects.insert(feature(dataset, example, "object"));
    templates.insert(feature(dataset, example, "template") + feature(dataset, example, "order"));
  }
  REQUIRE(names.size() == 99);
  REQUIRE(places.size() == 8);
  REQUIRE(objects.size() == 8);
  REQUIRE(templates.size() == 30);

  // Only the names' logits are needed: ask the engine for those columns at END.
  std::vector<int32_t> name_tokens;
  for (const auto& example : dataset.examples) name_tokens.push_back(example.answer);
  std::sort(name_tokens.begin(), name_tokens.end());
  name_tokens.erase(std::unique(name_tokens.begin(), name_tokens.end()), name_tokens.end());
  const auto column = [&](int32_t token) {
    return static_cast<int>(std::lower_bound(name_tokens.begin(), name_tokens.end(), token) - name_tokens.begin());
  };

  std::vector<double> differences, abba_differences, baba_differences;
  const size_t chunk = 100;
  for (size_t start = 0; start < dataset.examples.size(); start += chunk) {
    const size_t stop = std::min(dataset.examples.size(), start + chunk);
    std::vector<std::vector<int32_t>> sequences;
    engine::LogitRequest request{
        .positions = engine::LogitRequest::Positions::per_row, .row_positions = {}, .token_ids = name_tokens};
    for (size_t i = start; i < stop; ++i) {
      sequences.push_back(dataset.examples[i].tokens);
      request.row_positions.push_back(dataset.answer_position(dataset.examples[i]));
    }
    const PaddedBatch batch = pad(sequences, tokenizer.single_token("<|endoftext|>").value_or(50256));
    const engine::RowMatrix logits = engine::forward(weights, batch.view(), request);
    REQUIRE(logits.rows() == static_cast<long>(stop - start));
    for (size_t i = start; i < stop; ++i) {
      const auto& example = dataset.examples[i];
      const long row = static_cast<long>(i - start);
      const double difference = logits(row, column(example.answer)) - logits(row, column(example.distractor));
      differences.push_back(difference);
      (feature(dataset, example, "order") == "ABBA" ? abba_differences : baba_differences).push_back(difference);
    }
  }
  const auto fraction_positive = [](const std::vector<double>& values) {
    return static_cast<double>(std::count_if(values.begin(), values.end(), [](double v) { return v > 0; })) /
           static_cast<double>(values.size());
  };
  const Summary all = summarize(differences), abba = summarize(abba_differences), baba = summarize(baba_differences);
  std::cout << std::fixed << std::setprecision(3) << "bundled model, IOI, paper's 15 templates, " << differences.size()
            << " prompts (seed 20220930, no BOS):\n"
            << "  IO logit > S logit: " << fraction_positive(differences) << " (ABBA "
            << fraction_positive(abba_differences) << ", BABA " << fraction_positive(baba_differences) << ")\n"
            << "  mean logit difference: " << all.mean << " +- " << all.standard_error << " (ABBA " << abba.mean
            << ", BABA " << baba.mean << ")\n";
  CHECK(fraction_positive(differences) >= 0.95);
  CHECK(all.mean >= 3.0);
}

TEST_CASE("bundled model: induction lowers the loss on the repeated half", "[data][bundled][induction]") {
  const auto& weights = bundled_weights();
  const auto& tokenizer = gpt2_tokenizer();
  // 20 distinct pool words, then all of them again: the prompt stops one word short, and the answer completes it.
  const int length = 20;
  const auto dataset = data::make_dataset("induction", 200, 20221201, tokenizer,
                                          {{"length", std::to_string(length)}, {"repeat", std::to_string(length - 1)}});
  std::vector<double> first_half, repeated_half;
  const size_t chunk = 8;  // full-vocabulary logits for every position: keep the block small
  for (size_t start = 0; start < dataset.examples.size(); start += chunk) {
    const size_t stop = std::min(dataset.examples.size(), start + chunk);
    std::vector<std::vector<int32_t>> sequences;
    for (size_t i = start; i < stop; ++i) {
      sequences.push_back(dataset.examples[i].tokens);
      sequences.back().push_back(dataset.examples[i].answer);
      REQUIRE(sequences.back().size() == static_cast<size_t>(2 * length));
    }
    const PaddedBatch batch = pad(sequences, 0);
    const engine::RowMatrix logits = engine::forward(weights, batch.view(), engine::LogitRequest{});
    for (size_t b = 0; b < sequences.size(); ++b) {
      // Position p predicts token p + 1. The first half's predictable targets are tokens 1..L-1; the
      // repeat's are tokens L+1..2L-1 (token L, the repeat's start, follows nothing seen before).
      for (int p = 0; p + 1 < 2 * length; ++p) {
        if (p == length - 1) continue;
        const auto row = logits.row(static_cast<long>(b) * batch.positions + p);
        const float max = row.maxCoeff();
        const double log_sum = max + std::log((row.array() - max).exp().sum());
        const double loss = log_sum - row(sequences[b][static_cast<size_t>(p + 1)]);
        (p < length ? first_half : repeated_half).push_back(loss);
      }
    }
  }
  const Summary first = summarize(first_half), repeated = summarize(repeated_half);
  const double ratio = repeated.mean / first.mean;
  std::cout << std::fixed << std::setprecision(3) << "bundled model, induction, " << dataset.examples.size()
            << " sequences of " << length << " random pool words repeated once (seed 20221201, no BOS):\n"
            << "  mean next-token loss, first half: " << first.mean << " +- " << first.standard_error
            << ", repeated half: " << repeated.mean << " +- " << repeated.standard_error << ", ratio " << ratio << "\n";
  // The bundled model's target (issue 3): the repeated half's loss at most 30% of the first half's.
  CHECK(ratio <= 0.30);
  CHECK(repeated.mean < first.mean - 3 * (first.standard_error + repeated.standard_error));
}
