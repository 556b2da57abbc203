// A head's attention pattern, checked against softmax(q k^T / sqrt(d_head)) computed from the weights.
#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/attention.hpp"
#include "discover_fixtures.hpp"
#include "residual_arithmetic.hpp"

using namespace cscrub;
using test::RowMatrix;

TEST_CASE("attention patterns are causal, normalised and match the weights", "[discover][attention]") {
  const test::DiscoverFixture fixture;
  const engine::Weights& weights = fixture.weights;
  const engine::ModelConfig& config = weights.config;
  const std::vector<int32_t> tokens = test::random_tokens(9, config.vocab_size, 3);
  const int positions = static_cast<int>(tokens.size()), d_head = config.d_head();
  for (int head = 0; head < config.n_head; ++head) {
    const RowMatrix pattern = discover::attention_pattern(weights, tokens, {0, head});
    REQUIRE(pattern.rows() == positions);
    REQUIRE(pattern.cols() == positions);
    // Layer 0 reads the embeddings: layer norm, q and k by hand.
    const RowMatrix resid = test::embeddings(weights, tokens);
    const engine::LayerWeights& lw = weights.layers[0];
    RowMatrix normalized(positions, config.d_model);
    for (int p = 0; p < positions; ++p) {
      const Eigen::RowVectorXf row = resid.row(p);
      const float mean = row.mean();
      const float scale = std::sqrt((row.array() - mean).square().mean() + config.layer_norm_epsilon);
      normalized.row(p) = ((row.array() - mean) / scale).matrix().cwiseProduct(lw.ln1_weight) + lw.ln1_bias;
    }
    const RowMatrix q = (normalized * lw.qkv_weight.middleCols(head * d_head, d_head)).rowwise() +
                        lw.qkv_bias.segment(head * d_head, d_head);
    const RowMatrix k = (normalized * lw.qkv_weight.middleCols(config.d_model + head * d_head, d_head)).rowwise() +
                        lw.qkv_bias.segment(config.d_model + head * d_head, d_head);
    for (int query = 0; query < positions; ++query) {
      Eigen::RowVectorXd scores(query + 1);
      for (int key = 0; key <= query; ++key) scores(key) = q.row(query).dot(k.row(key)) / std::sqrt(static_cast<double>(d_head));
      const Eigen::RowVectorXd expected = (scores.array() - scores.maxCoeff()).exp() / (scores.array() - scores.maxCoeff()).exp().sum();
      CHECK(pattern.row(query).sum() == Approx(1.0).margin(1e-5));
      for (int key = 0; key < positions; ++key) {
        if (key > query) {
          CHECK(pattern(query, key) == 0.0f);
        } else {
          CHECK(pattern(query, key) == Approx(expected(key)).margin(1e-5));
        }
      }
    }
  }
}
