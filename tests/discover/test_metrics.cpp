// The discovery metrics per prompt pair: read from the logits they ask for (two columns for logit_diff), checked
// against the same quantities computed here from the whole vocabulary's logits in long double.
#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/metrics.hpp"
#include "cscrub/error.hpp"
#include "discover_fixtures.hpp"

using namespace cscrub;

namespace {

std::vector<long double> log_softmax(const engine::RowMatrix& logits, Eigen::Index row) {
  long double max = logits.row(row).maxCoeff(), sum = 0;
  for (Eigen::Index c = 0; c < logits.cols(); ++c) sum += std::exp(static_cast<long double>(logits(row, c)) - max);
  std::vector<long double> result;
  for (Eigen::Index c = 0; c < logits.cols(); ++c) result.push_back(logits(row, c) - max - std::log(sum));
  return result;
}

}  // namespace

TEST_CASE("discovery metrics read the last position with the clean labels", "[discover][metrics]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(3, 5);
  const data::Dataset& labels = pairs.clean;
  const std::vector<discover::Batch> batches = discover::make_batches(labels, 8);
  const discover::Batch& batch = batches.back();
  const std::vector<int32_t> clean_tokens = discover::batch_tokens(labels, batch);
  const std::vector<int32_t> corrupted_tokens = discover::batch_tokens(pairs.corrupted, batch);
  const int prompts = static_cast<int>(batch.examples.size());
  auto run = [&](const std::vector<int32_t>& tokens, const engine::LogitRequest& request) {
    return engine::forward(fixture.weights, {tokens, prompts, batch.positions}, request);
  };
  engine::LogitRequest last;
  last.positions = engine::LogitRequest::Positions::last;
  const engine::RowMatrix clean_all = run(clean_tokens, last), corrupted_all = run(corrupted_tokens, last);

  for (const discover::Metric metric : {discover::Metric::logit_diff, discover::Metric::prob_diff,
                                        discover::Metric::kl, discover::Metric::loss}) {
    INFO(discover::to_string(metric));
    const engine::LogitRequest request = discover::metric_logits(metric, labels, batch);
    CHECK(request.positions == engine::LogitRequest::Positions::last);
    CHECK(request.token_ids.empty() == (metric != discover::Metric::logit_diff));
    const engine::RowMatrix logits = run(corrupted_tokens, request);
    engine::RowMatrix gradient;
    const std::vector<double> values =
        discover::metric_values(metric, labels, batch, request, logits, &clean_all, &gradient, "the corrupted run");
    REQUIRE(values.size() == static_cast<size_t>(prompts));
    CHECK(gradient.rows() == logits.rows());
    CHECK(gradient.cols() == logits.cols());
    for (int b = 0; b < prompts; ++b) {
      const data::Example& example = labels.examples[static_cast<size_t>(batch.examples[static_cast<size_t>(b)])];
      const std::vector<long double> log_p = log_softmax(corrupted_all, b), log_clean = log_softmax(clean_all, b);
      long double expected = 0;
      switch (metric) {
        case discover::Metric::logit_diff:
          expected = static_cast<long double>(corrupted_all(b, example.answer)) - corrupted_all(b, example.distractor);
          break;
        case discover::Metric::prob_diff:
          expected = std::exp(log_p[example.answer]) - std::exp(log_p[example.distractor]);
          break;
        case discover::Metric::loss: expected = -log_p[example.answer]; break;
        case discover::Metric::kl:
          for (size_t c = 0; c < log_p.size(); ++c) expected += std::exp(log_clean[c]) * (log_clean[c] - log_p[c]);
          break;
      }
      CHECK(values[static_cast<size_t>(b)] == Approx(static_cast<double>(expected)).margin(1e-6).epsilon(1e-6));
    }
  }

  // KL of the clean run from itself is 0, and so is its gradient.
  engine::RowMatrix gradient;
  const std::vector<double> kl = discover::metric_values(discover::Metric::kl, labels, batch, last, clean_all,
                                                         &clean_all, &gradient, "the clean run");
  for (double value : kl) CHECK(value == Approx(0.0).margin(1e-9));
  CHECK(gradient.cwiseAbs().maxCoeff() <= 1e-7f);
}

TEST_CASE("discovery metrics refuse non-finite logits and a missing distractor", "[discover][metrics]") {
  const test::DiscoverFixture fixture;
  discover::PairedDataset pairs = fixture.pairs(2, 6);
  const std::vector<discover::Batch> batches = discover::make_batches(pairs.clean, 8);
  const discover::Batch& batch = batches.front();
  const engine::LogitRequest request = discover::metric_logits(discover::Metric::loss, pairs.clean, batch);
  engine::RowMatrix logits = engine::RowMatrix::Zero(static_cast<Eigen::Index>(batch.examples.size()), 101);
  logits(1, 7) = INFINITY;
  CHECK_THROWS_WITH(discover::metric_values(discover::Metric::loss, pairs.clean, batch, request, logits, nullptr,
                                            nullptr, "the clean run"),
                    Catch::Contains("the clean run produced a non-finite logit (+Inf) for prompt " +
                                    std::to_string(batch.examples[1])));
  pairs.clean.examples[static_cast<size_t>(batch.examples[0])].distractor = -1;
  logits(1, 7) = 0;
  CHECK_THROWS_WITH(discover::metric_values(discover::Metric::prob_diff, pairs.clean, batch, request, logits, nullptr,
                                            nullptr, "the clean run"),
                    Catch::Contains("needs a distractor"));
  CHECK_NOTHROW(discover::metric_values(discover::Metric::loss, pairs.clean, batch, request, logits, nullptr, nullptr,
                                        "the clean run"));
  CHECK_THROWS_WITH(discover::parse_metric("logit_dif"), Catch::Contains("did you mean 'logit_diff'"));
}
