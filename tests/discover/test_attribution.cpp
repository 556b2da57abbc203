// Direct logit attribution: the parts sum to the logit difference, and each head's part is its output at the
// last position through the frozen final layer norm, computed by hand.
#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/attribution.hpp"
#include "discover_fixtures.hpp"
#include "residual_arithmetic.hpp"

using namespace cscrub;
using test::RowMatrix;

TEST_CASE("direct logit attributions sum to the logit difference", "[discover][attribution]") {
  const test::DiscoverFixture fixture;
  const data::Dataset dataset = fixture.pairs(4).clean;
  const discover::Attribution attribution = discover::direct_logit_attribution(fixture.weights, dataset, 3);
  CHECK(attribution.prompts == 8);
  CHECK(attribution.heads.rows() == 3);
  CHECK(attribution.heads.columns() == 4);
  CHECK(attribution.sum_of_parts() == Approx(attribution.logit_diff).margin(1e-4));
  double by_hand = 0;
  for (const auto& example : dataset.examples)
    by_hand += test::logit_diff(fixture.weights, test::run_by_hand(fixture.weights, example.tokens), example);
  CHECK(attribution.logit_diff == Approx(by_hand / 8).margin(1e-4));
}

TEST_CASE("a head's direct logit attribution is its output through the frozen ln_f", "[discover][attribution]") {
  const test::DiscoverFixture fixture;
  const data::Dataset dataset = fixture.pairs(4).clean;
  const engine::Weights& weights = fixture.weights;
  const engine::ModelConfig& config = weights.config;
  const discover::Attribution attribution = discover::direct_logit_attribution(weights, dataset, 64);
  std::vector<double> heads(static_cast<size_t>(config.n_layer * config.n_head), 0.0);
  std::vector<double> mlps(static_cast<size_t>(config.n_layer), 0.0);
  for (const auto& example : dataset.examples) {
    const test::ResidualRun run = test::run_by_hand(weights, example.tokens);
    const Eigen::RowVectorXd final_row = run.resid.back().bottomRows(1).cast<double>();
    const double scale = std::sqrt((final_row.array() - final_row.mean()).square().mean() + config.layer_norm_epsilon);
    const Eigen::RowVectorXd direction =
        weights.ln_final_weight.cast<double>().cwiseProduct(weights.token_embedding.row(example.answer).cast<double>() -
                                                            weights.token_embedding.row(example.distractor).cast<double>());
    auto through_ln = [&](const RowMatrix& written) {
      const Eigen::RowVectorXd last = written.bottomRows(1).cast<double>();
      return (last.array() - last.mean()).matrix().dot(direction) / scale;
    };
    for (int layer = 0; layer < config.n_layer; ++layer) {
      for (int head = 0; head < config.n_head; ++head)
        heads[static_cast<size_t>(layer * config.n_head + head)] += through_ln(run.heads[layer][head]) / 8;
      mlps[static_cast<size_t>(layer)] += through_ln(run.mlps[layer]) / 8;
    }
  }
  double largest = 0;
  for (int layer = 0; layer < config.n_layer; ++layer) {
    for (int head = 0; head < config.n_head; ++head) {
      INFO("head " << layer << "." << head);
      CHECK(attribution.heads.at(layer, head) == Approx(heads[static_cast<size_t>(layer * config.n_head + head)]).margin(1e-4));
      largest = std::max(largest, std::fabs(attribution.heads.at(layer, head)));
    }
    CHECK(attribution.mlps[static_cast<size_t>(layer)] == Approx(mlps[static_cast<size_t>(layer)]).margin(1e-4));
  }
  CHECK(largest > 1e-2);
}
