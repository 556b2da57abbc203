#include <omp.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/error.hpp"
#include "matmul_kernels.hpp"
#include "random_weights.hpp"

using namespace cscrub::engine;
using cscrub::test::random_tokens;

namespace {

RowMatrix run(const Weights& weights, const std::vector<int32_t>& tokens, int batch, int positions,
              LogitRequest request = {}, Interventions* interventions = nullptr) {
  return forward(weights, {tokens, batch, positions}, request, interventions);
}

RowMatrix as_matrix(const StoredActivation& stored, int64_t rows) {
  return Eigen::Map<const RowMatrix>(stored.values.data(), rows, static_cast<int64_t>(stored.values.size()) / rows);
}

// The weights, their products in `kernel`: each test runs in every kernel this machine has.
Weights in_kernel(Weights weights, MatmulKernel kernel) {
  weights.matmul = kernel;
  return weights;
}

// Restores the OpenMP thread count when a test changes it.
struct ThreadCount {
  explicit ThreadCount(int threads) : saved(omp_get_max_threads()) { omp_set_num_threads(threads); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

}  // namespace

// GPT-2's configuration and the other families' variations of it (local windows, rotary, parallel blocks).
std::vector<ModelConfig> family_configs() {
  return {cscrub::test::small_config(), cscrub::test::small_gpt_neo_config(), cscrub::test::small_gpt_neox_config()};
}

TEST_CASE("logits are bit-identical at 1 and 2 threads", "[forward][determinism]") {
  const ModelConfig config = GENERATE(from_range(family_configs()));
  const Weights weights = in_kernel(cscrub::test::random_weights(config, 1),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(config.family) << ", " << to_string(weights.matmul));
  const auto tokens = random_tokens(6 * 11, weights.config.vocab_size, 2);
  RowMatrix one, two;
  {
    ThreadCount threads(1);
    one = run(weights, tokens, 6, 11);
  }
  {
    ThreadCount threads(2);
    two = run(weights, tokens, 6, 11);
  }
  CHECK(one.rows() == 66);
  CHECK(one == two);
}

TEST_CASE("a sequence's activations do not depend on the rest of the batch", "[forward][determinism]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 3),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int batch = 5, positions = 7;
  const auto tokens = random_tokens(batch * positions, weights.config.vocab_size, 4);
  const RowMatrix together = run(weights, tokens, batch, positions);
  for (int b = 0; b < batch; ++b) {
    std::vector<int32_t> alone(tokens.begin() + b * positions, tokens.begin() + (b + 1) * positions);
    const RowMatrix single = run(weights, alone, 1, positions);
    CHECK(single == together.middleRows(b * positions, positions));
  }
}

TEST_CASE("right padding does not change the real tokens' logits", "[forward]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 5),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const auto tokens = random_tokens(5, weights.config.vocab_size, 6);
  std::vector<int32_t> padded = tokens;
  padded.resize(9, 0);
  const RowMatrix short_run = run(weights, tokens, 1, 5);
  const RowMatrix padded_run = run(weights, padded, 1, 9);
  CHECK(short_run == padded_run.topRows(5));
}

TEST_CASE("restricted logits agree with the full vocabulary", "[forward]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 7),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int batch = 3, positions = 6;
  const auto tokens = random_tokens(batch * positions, weights.config.vocab_size, 8);
  const RowMatrix full = run(weights, tokens, batch, positions);

  LogitRequest last;
  last.positions = LogitRequest::Positions::last;
  const RowMatrix last_rows = run(weights, tokens, batch, positions, last);
  REQUIRE(last_rows.rows() == batch);

  LogitRequest chosen;
  chosen.positions = LogitRequest::Positions::per_row;
  chosen.row_positions = {0, 5, 2};
  chosen.token_ids = {7, 3, 100};
  const RowMatrix few = run(weights, tokens, batch, positions, chosen);
  REQUIRE(few.rows() == batch);
  REQUIRE(few.cols() == 3);
  // Without hooks the last block finishes only the requested rows: the same numbers, bit for bit.
  chosen.token_ids.clear();
  const RowMatrix chosen_rows = run(weights, tokens, batch, positions, chosen);
  for (int b = 0; b < batch; ++b) {
    CHECK(last_rows.row(b) == full.row(b * positions + positions - 1));
    CHECK(chosen_rows.row(b) == full.row(b * positions + chosen.row_positions[b]));
    for (int j = 0; j < 3; ++j)
      CHECK(few(b, j) == Approx(full(b * positions + chosen.row_positions[b], chosen.token_ids[j])).margin(1e-5));
  }
}

TEST_CASE("patching with a prompt's own activations changes nothing, another prompt's changes only later positions",
          "[forward][interventions]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 9),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int positions = 6;
  const auto clean = random_tokens(positions, weights.config.vocab_size, 10);
  const auto corrupt = random_tokens(positions, weights.config.vocab_size, 11);
  const HookPoint resid{Site::resid_pre, 1};

  ActivationCache clean_cache({resid});
  const RowMatrix clean_logits = run(weights, clean, 1, positions, {}, &clean_cache);
  ActivationCache corrupt_cache({resid});
  run(weights, corrupt, 1, positions, {}, &corrupt_cache);

  ActivationPatcher same;
  same.add({resid, std::nullopt, std::nullopt, &clean_cache.at(resid)});
  CHECK(run(weights, clean, 1, positions, {}, &same) == clean_logits);

  ActivationPatcher at_three;
  at_three.add({resid, std::nullopt, 3, &corrupt_cache.at(resid)});
  const RowMatrix patched = run(weights, clean, 1, positions, {}, &at_three);
  CHECK(patched.topRows(3) == clean_logits.topRows(3));
  for (int p = 3; p < positions; ++p) CHECK(patched.row(p) != clean_logits.row(p));
}

TEST_CASE("zeroing one head's result removes exactly its contribution from attn_out", "[forward][interventions]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 12),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int batch = 2, positions = 5, layer = 1, head = 2;
  const auto tokens = random_tokens(batch * positions, weights.config.vocab_size, 13);
  const HookPoint result{Site::attn_result, layer}, out{Site::attn_out, layer};

  ActivationCache before({result, out});
  run(weights, tokens, batch, positions, {}, &before);
  ActivationPatcher zero_head;
  zero_head.add({result, head, std::nullopt, nullptr, 0.0f});
  ActivationCache after({out});
  InterventionChain chain;
  chain.add(zero_head);
  chain.add(after);
  run(weights, tokens, batch, positions, {}, &chain);

  const int rows = batch * positions, d_model = weights.config.d_model;
  const RowMatrix results = as_matrix(before.at(result), rows);
  const RowMatrix expected = as_matrix(before.at(out), rows) - results.middleCols(head * d_model, d_model);
  CHECK((as_matrix(after.at(out), rows) - expected).cwiseAbs().maxCoeff() < 1e-4f);
}

TEST_CASE("components recomputed from cached residuals match the forward pass", "[components]") {
  const ModelConfig config = GENERATE(from_range(family_configs()));
  const Weights weights = in_kernel(cscrub::test::random_weights(config, 14),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(config.family) << ", " << to_string(weights.matmul));
  const int batch = 3, positions = 7, layer = 2, rows = batch * positions;
  const auto tokens = random_tokens(rows, weights.config.vocab_size, 15);
  const HookPoint resid_pre{Site::resid_pre, layer}, result{Site::attn_result, layer},
      resid_mid{Site::resid_mid, layer}, mlp_out{Site::mlp_out, layer}, resid_post{Site::resid_post, layer},
      z{Site::attn_z, layer};
  ActivationCache cache({resid_pre, result, resid_mid, mlp_out, resid_post, z});
  const RowMatrix logits = run(weights, tokens, batch, positions, {}, &cache);

  const RowMatrix pre = as_matrix(cache.at(resid_pre), rows);
  const int d_model = weights.config.d_model, d_head = weights.config.d_head();
  for (int head = 0; head < weights.config.n_head; ++head) {
    const RowMatrix expected = as_matrix(cache.at(result), rows).middleCols(head * d_model, d_model);
    const RowMatrix recomputed = head_output(weights, layer, head, batch, positions, pre, pre, pre);
    CHECK((recomputed - expected).cwiseAbs().maxCoeff() < 1e-4f);
    const RowMatrix head_z = as_matrix(cache.at(z), rows).middleCols(head * d_head, d_head);
    CHECK((head_output_from_z(weights, layer, head, head_z) - expected).cwiseAbs().maxCoeff() < 1e-4f);
  }
  // A parallel block's MLP reads the block's input.
  const RowMatrix mlp = mlp_output(weights, layer, as_matrix(cache.at(config.parallel_attn_mlp ? resid_pre : resid_mid), rows));
  CHECK((mlp - as_matrix(cache.at(mlp_out), rows)).cwiseAbs().maxCoeff() < 1e-4f);
  const RowMatrix unembedded = unembed(weights, as_matrix(cache.at(resid_post), rows), {});
  CHECK((unembedded - logits).cwiseAbs().maxCoeff() < 1e-4f);
}

TEST_CASE("queries, keys and values can come from different prompts", "[components]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 16),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int positions = 6, layer = 1, head = 0;
  const auto a = random_tokens(positions, weights.config.vocab_size, 17);
  const auto b = random_tokens(positions, weights.config.vocab_size, 18);
  const HookPoint resid_pre{Site::resid_pre, layer}, q{Site::attn_q, layer}, result{Site::attn_result, layer};
  ActivationCache cache_a({resid_pre, q}), cache_b({resid_pre});
  run(weights, a, 1, positions, {}, &cache_a);
  run(weights, b, 1, positions, {}, &cache_b);
  // Prompt b with its queries replaced by prompt a's: the head's output must equal head_output(q from a, k/v from b).
  ActivationPatcher patch;
  patch.add({q, head, std::nullopt, &cache_a.at(q)});
  ActivationCache patched({result});
  InterventionChain chain;
  chain.add(patch);
  chain.add(patched);
  run(weights, b, 1, positions, {}, &chain);
  const int d_model = weights.config.d_model;
  const RowMatrix expected = as_matrix(patched.at(result), positions).middleCols(head * d_model, d_model);
  const RowMatrix recomputed = head_output(weights, layer, head, 1, positions, as_matrix(cache_a.at(resid_pre), positions),
                                           as_matrix(cache_b.at(resid_pre), positions),
                                           as_matrix(cache_b.at(resid_pre), positions));
  CHECK((recomputed - expected).cwiseAbs().maxCoeff() < 1e-4f);
}

TEST_CASE("bad token batches are user errors", "[forward]") {
  const Weights weights = cscrub::test::random_weights(cscrub::test::small_config(), 19);
  CHECK_THROWS_WITH(run(weights, {1, 2, 500}, 1, 3), Catch::Contains("outside the vocabulary"));
  CHECK_THROWS_WITH(run(weights, std::vector<int32_t>(40, 1), 1, 40), Catch::Contains("longer than the model's context"));
  CHECK_THROWS_WITH(run(weights, {1, 2, 3}, 2, 3), Catch::Contains("expected 2 x 3"));
}

TEST_CASE("a scratch reused across batches of other shapes gives the same logits as fresh buffers", "[forward]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 11),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const auto first = random_tokens(3 * 6, weights.config.vocab_size, 12);
  const auto second = random_tokens(2 * 9, weights.config.vocab_size, 13);
  LogitRequest last;
  last.positions = LogitRequest::Positions::last;
  ForwardScratch scratch;
  for (int round = 0; round < 2; ++round) {
    CHECK(forward(weights, {first, 3, 6}, {}, nullptr, &scratch) == run(weights, first, 3, 6));
    CHECK(forward(weights, {second, 2, 9}, last, nullptr, &scratch) == run(weights, second, 2, 9, last));
    CHECK(forward(weights, {second, 2, 9}, {}, nullptr, &scratch) == run(weights, second, 2, 9));
  }
}

TEST_CASE("logits written into a kept matrix equal fresh ones and keep its memory while the shape holds",
          "[forward]") {
  const Weights weights = in_kernel(cscrub::test::random_weights(cscrub::test::small_config(), 14),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const auto tokens = random_tokens(3 * 7, weights.config.vocab_size, 15);
  LogitRequest last, two_ids;
  last.positions = LogitRequest::Positions::last;
  two_ids.token_ids = {4, 1};
  ForwardScratch scratch;
  RowMatrix logits = RowMatrix::Constant(2, 2, 7.0f);  // a shape no request has: resized on first use
  auto check_against_fresh = [&](const LogitRequest& request) {
    forward_into(weights, {tokens, 3, 7}, request, logits, nullptr, &scratch);
    const RowMatrix fresh = run(weights, tokens, 3, 7, request);
    REQUIRE(logits.rows() == fresh.rows());
    REQUIRE(logits.cols() == fresh.cols());
    CHECK(logits == fresh);
  };
  check_against_fresh({});
  const float* kept = logits.data();
  check_against_fresh({});
  CHECK(logits.data() == kept);
  for (const LogitRequest& request : {last, two_ids, LogitRequest{}}) check_against_fresh(request);
}

TEST_CASE("rows agree bit for bit wherever they lie: batched attention, the hooks' path, single query rows, "
          "another place in the batch",
          "[forward][determinism]") {
  // Widths that are not whole vectors (d_model 40, heads of 20, d_mlp 150: rows start at every alignment;
  // values copied and padded), and heads of 32 (values read in place, two vectors per pass); 19 and 37
  // positions (query rows in groups of 8, of 4 and alone; keys past whole blocks); at 1 and 2 threads.
  struct Shape {
    int d_model, n_head, d_mlp, positions;
  };
  const Shape shape = GENERATE(Shape{40, 2, 150, 19}, Shape{64, 2, 96, 37});
  ModelConfig config = GENERATE(from_range(family_configs()));
  INFO(to_string(config.family));
  config.d_model = shape.d_model;
  config.n_head = shape.n_head;
  config.d_mlp = shape.d_mlp;
  config.n_ctx = std::max(config.n_ctx, shape.positions);
  const Weights weights =
      in_kernel(cscrub::test::random_weights(config, 16), GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int batch = 2, positions = shape.positions;
  const auto tokens = random_tokens(batch * positions, config.vocab_size, 17);
  for (int threads : {1, 2}) {
    INFO("d_model " << shape.d_model << ", " << positions << " positions");
    ThreadCount thread_count(threads);
    const RowMatrix full = run(weights, tokens, batch, positions);
    ActivationCache pattern_cache({{Site::attn_pattern, 1}, {Site::attn_scores, 2}});
    CHECK(run(weights, tokens, batch, positions, {}, &pattern_cache) == full);

    LogitRequest last, chosen;
    last.positions = LogitRequest::Positions::last;
    chosen.positions = LogitRequest::Positions::per_row;
    chosen.row_positions = {9, 0};
    const RowMatrix last_rows = run(weights, tokens, batch, positions, last);
    const RowMatrix chosen_rows = run(weights, tokens, batch, positions, chosen);
    for (int b = 0; b < batch; ++b) {
      INFO("sequence " << b << ", " << threads << " threads");
      CHECK(last_rows.row(b) == full.row(b * positions + positions - 1));
      CHECK(chosen_rows.row(b) == full.row(b * positions + chosen.row_positions[b]));
    }
    const std::vector<int32_t> second(tokens.begin() + positions, tokens.end());
    CHECK(run(weights, second, 1, positions) == full.bottomRows(positions));
    // A few logits (the scrubber's metrics) for the second sequence: the same as its row in the batch.
    LogitRequest few;
    few.positions = LogitRequest::Positions::last;
    few.token_ids = {3, 50, 7};
    CHECK(run(weights, second, 1, positions, few).row(0) == run(weights, tokens, batch, positions, few).row(1));
  }
}

TEST_CASE("an attention-only model (n_inner 0): every MLP adds its bias, in every path", "[forward][components]") {
  ModelConfig config = cscrub::test::small_config();
  config.d_mlp = 0;
  const Weights weights = in_kernel(cscrub::test::random_weights(config, 31),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(weights.matmul));
  const int batch = 2, positions = 6, rows = batch * positions;
  const auto tokens = random_tokens(rows, config.vocab_size, 32);
  ActivationCache cache = ActivationCache::record_all(config);
  const RowMatrix logits = run(weights, tokens, batch, positions, {}, &cache);
  ModelConfig with_mlp = config;
  with_mlp.d_mlp = 4 * config.d_model;
  // Every hook of the same model with MLPs but mlp.hook_pre and hook_post.
  CHECK(cache.all().size() == all_hook_points(with_mlp).size() - static_cast<size_t>(2 * config.n_layer));
  for (int layer = 0; layer < config.n_layer; ++layer) {
    INFO("layer " << layer);
    const RowMatrix mlp_out = as_matrix(cache.at({Site::mlp_out, layer}), rows);
    const RowVector& bias = weights.layers[static_cast<size_t>(layer)].proj_bias;
    CHECK((mlp_out.rowwise() - bias).cwiseAbs().maxCoeff() == 0.0f);
    const RowMatrix recomputed = mlp_output(weights, layer, as_matrix(cache.at({Site::resid_mid, layer}), rows));
    CHECK((recomputed.rowwise() - bias).cwiseAbs().maxCoeff() == 0.0f);
  }
  // The last block pruned to the last positions (no hooks) gives those rows' logits.
  LogitRequest last_positions;
  last_positions.positions = LogitRequest::Positions::last;
  const RowMatrix last = run(weights, tokens, batch, positions, last_positions);
  for (int b = 0; b < batch; ++b)
    CHECK((last.row(b) - logits.row(b * positions + positions - 1)).cwiseAbs().maxCoeff() <= 1e-5f);
}
