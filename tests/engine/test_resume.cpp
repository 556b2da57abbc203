// Resuming a forward pass part-way (resume.hpp) and the head components over suffix rows: against the
// forward's own hook values, which they must reproduce bit for bit, in every family (GPT-Neo's local window of
// 3 keys is shorter than the sequences and than some suffixes; Pythia's keys are rotated at their positions and
// its MLPs read the block's input).
#include <catch2/catch.hpp>

#include "cscrub/engine/components.hpp"
#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/engine/resume.hpp"
#include "cscrub/error.hpp"
#include "matmul_kernels.hpp"
#include "random_weights.hpp"

using namespace cscrub::engine;
using cscrub::test::random_tokens;

namespace {

constexpr int kBatch = 3, kPositions = 9;

// A forward pass with its residual streams, z, attention outputs and q|k|v recorded.
struct RecordedPass {
  ActivationCache hooks{{}};
  QkvCache qkv;
  RowMatrix stream(Site site, int layer) const {
    const StoredActivation& stored = hooks.at({site, layer});
    return ConstRowMatrixMap(stored.values.data(), static_cast<Eigen::Index>(stored.shape[0] * stored.shape[1]),
                             static_cast<Eigen::Index>(stored.values.size() / (stored.shape[0] * stored.shape[1])));
  }
};

RecordedPass record(const Weights& weights, const std::vector<int32_t>& tokens) {
  std::set<HookPoint> points;
  for (int layer = 0; layer < weights.config.n_layer; ++layer)
    for (Site site : {Site::resid_pre, Site::resid_mid, Site::resid_post, Site::attn_z, Site::attn_out})
      points.insert({site, layer});
  RecordedPass pass;
  pass.hooks = ActivationCache(points);
  QkvRecorder qkv(weights.config, kBatch, kPositions);
  InterventionChain chain;
  chain.add(pass.hooks);
  chain.add(qkv);
  (void)forward(weights, {tokens, kBatch, kPositions}, {}, &chain);
  pass.qkv = qkv.take();
  return pass;
}

// Rows [start, positions) of the given sequences of a [kBatch * kPositions, width] matrix, sequence by sequence.
RowMatrix suffix_of(const RowMatrix& full, const std::vector<int>& sequences, int start) {
  const int length = kPositions - start;
  RowMatrix rows(static_cast<Eigen::Index>(sequences.size()) * length, full.cols());
  for (size_t i = 0; i < sequences.size(); ++i)
    rows.middleRows(static_cast<Eigen::Index>(i) * length, length) =
        full.middleRows(static_cast<Eigen::Index>(sequences[i]) * kPositions + start, length);
  return rows;
}

RowMatrix last_rows(const RowMatrix& full, const std::vector<int>& sequences) {
  RowMatrix rows(static_cast<Eigen::Index>(sequences.size()), full.cols());
  for (size_t i = 0; i < sequences.size(); ++i)
    rows.row(static_cast<Eigen::Index>(i)) = full.row(static_cast<Eigen::Index>(sequences[i]) * kPositions + kPositions - 1);
  return rows;
}

Weights in_kernel(Weights weights, MatmulKernel kernel) {
  weights.matmul = kernel;
  return weights;
}

}  // namespace

TEST_CASE("resuming the clean pass anywhere gives its final residual stream bit for bit", "[resume]") {
  const ModelConfig family = GENERATE(from_range(cscrub::test::small_configs_of_every_family()));
  const Weights weights = in_kernel(cscrub::test::random_weights(family, 3),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(family.family) << ", " << to_string(weights.matmul));
  const int layers = weights.config.n_layer;
  const auto tokens = random_tokens(kBatch * kPositions, weights.config.vocab_size, 4);
  const RecordedPass pass = record(weights, tokens);
  const RowMatrix final_stream = pass.stream(Site::resid_post, layers - 1);
  // Sequences repeated and reordered: each reads its earlier positions from its own cache sequence.
  const std::vector<int> sequences = {2, 0, 1, 1, 2};
  ForwardScratch scratch;
  for (int start : {0, 1, 5, kPositions - 1}) {
    for (int layer = 0; layer <= layers; ++layer) {
      for (const auto stage : {ResumePoint::Stage::attention, ResumePoint::Stage::mlp}) {
        // A parallel block's MLP reads the block's input: there is no resuming between its attention and MLP.
        if (stage == ResumePoint::Stage::mlp && (layer == layers || weights.config.parallel_attn_mlp)) continue;
        INFO("start " << start << ", layer " << layer << (stage == ResumePoint::Stage::mlp ? ", MLP" : ", attention"));
        const RowMatrix entering = layer == layers ? final_stream
                                   : stage == ResumePoint::Stage::mlp ? pass.stream(Site::resid_mid, layer)
                                                                      : pass.stream(Site::resid_pre, layer);
        const SuffixRows rows{.sequences = static_cast<int>(sequences.size()), .positions = kPositions,
                              .start = start, .cache_sequence = sequences, .cache = &pass.qkv};
        RowMatrix resumed;
        resume_forward(weights, {layer, stage}, rows, suffix_of(entering, sequences, start), resumed, &scratch);
        CHECK(resumed == last_rows(final_stream, sequences));
      }
    }
  }
}

TEST_CASE("a resumed pass over a changed suffix is the forward pass of the changed prompt", "[resume]") {
  const ModelConfig family = GENERATE(from_range(cscrub::test::small_configs_of_every_family()));
  const Weights weights = in_kernel(cscrub::test::random_weights(family, 5),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(family.family) << ", " << to_string(weights.matmul));
  const int start = 4;
  const auto clean = random_tokens(kBatch * kPositions, weights.config.vocab_size, 6);
  auto changed = clean;
  const auto other = random_tokens(kBatch * kPositions, weights.config.vocab_size, 7);
  for (int b = 0; b < kBatch; ++b)
    for (int p = start; p < kPositions; ++p) changed[static_cast<size_t>(b * kPositions + p)] = other[static_cast<size_t>(b * kPositions + p)];
  const RecordedPass clean_pass = record(weights, clean), changed_pass = record(weights, changed);
  const std::vector<int> sequences = {0, 1, 2};
  const SuffixRows rows{.sequences = kBatch, .positions = kPositions, .start = start, .cache_sequence = sequences,
                        .cache = &clean_pass.qkv};
  for (int layer = 0; layer < weights.config.n_layer; ++layer) {
    INFO("from layer " << layer);
    RowMatrix resumed;
    // Earlier positions read from the clean pass: the changed prompt's are the same.
    resume_forward(weights, {layer, ResumePoint::Stage::attention}, rows,
                   suffix_of(changed_pass.stream(Site::resid_pre, layer), sequences, start), resumed);
    const RowMatrix expected = last_rows(changed_pass.stream(Site::resid_post, weights.config.n_layer - 1), sequences);
    CHECK(resumed == expected);
    CHECK(resumed != last_rows(clean_pass.stream(Site::resid_post, weights.config.n_layer - 1), sequences));
  }
}

TEST_CASE("head_z and attention_output over suffix rows are the forward's hook_z and hook_attn_out", "[resume][components]") {
  const ModelConfig family = GENERATE(from_range(cscrub::test::small_configs_of_every_family()));
  const Weights weights = in_kernel(cscrub::test::random_weights(family, 8),
                                    GENERATE(from_range(cscrub::test::matmul_kernels_here())));
  INFO(to_string(family.family) << ", " << to_string(weights.matmul));
  const ModelConfig& config = weights.config;
  const auto tokens = random_tokens(kBatch * kPositions, config.vocab_size, 9);
  const RecordedPass pass = record(weights, tokens);
  const std::vector<int> sequences = {1, 2, 0};
  const int d_head = config.d_head();
  for (int start : {0, 3}) {
    const SuffixRows rows{.sequences = kBatch, .positions = kPositions, .start = start, .cache_sequence = sequences,
                          .cache = &pass.qkv};
    for (int layer = 0; layer < config.n_layer; ++layer) {
      const RowMatrix resid = suffix_of(pass.stream(Site::resid_pre, layer), sequences, start);
      const RowMatrix expected_z = suffix_of(pass.stream(Site::attn_z, layer), sequences, start);
      RowMatrix z(rows.rows(), config.d_model);
      for (int head = 0; head < config.n_head; ++head) {
        INFO("start " << start << ", head " << layer << "." << head);
        const RowMatrix all_ports = head_z(weights, layer, head, rows, {&resid, &resid, &resid});
        CHECK(all_ports == expected_z.middleCols(head * d_head, d_head));
        // Ports without a stream read the cache: the same values.
        const RowMatrix query_only = head_z(weights, layer, head, rows, {&resid, nullptr, nullptr});
        const RowMatrix value_only = head_z(weights, layer, head, rows, {nullptr, nullptr, &resid});
        CHECK(query_only == all_ports);
        CHECK(value_only == all_ports);
        z.middleCols(head * d_head, d_head) = all_ports;
      }
      CHECK(attention_output(weights, layer, z) == suffix_of(pass.stream(Site::attn_out, layer), sequences, start));
    }
  }
}

TEST_CASE("a head's keys read from a changed stream change its output only from the change on", "[resume][components]") {
  const ModelConfig family = GENERATE(from_range(cscrub::test::small_configs_of_every_family()));
  INFO(to_string(family.family));
  const Weights weights = cscrub::test::random_weights(family, 10);
  const ModelConfig& config = weights.config;
  const auto tokens = random_tokens(kBatch * kPositions, config.vocab_size, 11);
  const RecordedPass pass = record(weights, tokens);
  const std::vector<int> sequences = {0, 1, 2};
  const SuffixRows rows{.sequences = kBatch, .positions = kPositions, .start = 0, .cache_sequence = sequences,
                        .cache = &pass.qkv};
  const RowMatrix resid = pass.stream(Site::resid_pre, 1);
  RowMatrix shifted = resid;
  // Not a constant shift, which ln_1 would remove. (GPT-Neo's layer 1 sees 3 keys: positions 6-8 see 6.)
  for (int b = 0; b < kBatch; ++b) shifted.row(b * kPositions + 6).head(config.d_model / 2).array() += 0.5f;
  const RowMatrix clean = head_z(weights, 1, 2, rows, {&resid, &resid, &resid});
  const RowMatrix changed = head_z(weights, 1, 2, rows, {&resid, &shifted, &resid});
  for (int b = 0; b < kBatch; ++b)
    for (int p = 0; p < kPositions; ++p) {
      const float moved = (changed.row(b * kPositions + p) - clean.row(b * kPositions + p)).cwiseAbs().maxCoeff();
      INFO("sequence " << b << ", position " << p << ": moved " << moved);
      if (p < 6) CHECK(moved == 0.0f);
      else CHECK(moved > 0.0f);
    }
}

TEST_CASE("resumed rows that do not fit are refused", "[resume]") {
  const Weights weights = cscrub::test::random_weights(cscrub::test::small_config(), 12);
  const std::vector<int> sequences = {0, 1};
  RowMatrix final_rows;
  const SuffixRows no_cache{.sequences = 2, .positions = 6, .start = 2, .cache_sequence = sequences, .cache = nullptr};
  CHECK_THROWS_AS(resume_forward(weights, {0, ResumePoint::Stage::attention}, no_cache,
                                 RowMatrix::Zero(8, weights.config.d_model), final_rows),
                  cscrub::Error);
  const SuffixRows whole{.sequences = 2, .positions = 6, .start = 0, .cache_sequence = {}, .cache = nullptr};
  CHECK_THROWS_AS(resume_forward(weights, {0, ResumePoint::Stage::attention}, whole,
                                 RowMatrix::Zero(11, weights.config.d_model), final_rows),
                  cscrub::Error);
  CHECK_THROWS_AS(resume_forward(weights, {4, ResumePoint::Stage::attention}, whole,
                                 RowMatrix::Zero(12, weights.config.d_model), final_rows),
                  cscrub::Error);
  CHECK_THROWS_AS(head_z(weights, 0, 0, whole, {nullptr, nullptr, nullptr}), cscrub::Error);
  const Weights pythia = cscrub::test::random_weights(cscrub::test::small_gpt_neox_config(), 12);
  CHECK_THROWS_AS(resume_forward(pythia, {1, ResumePoint::Stage::mlp}, whole, RowMatrix::Zero(12, pythia.config.d_model),
                                 final_rows),
                  cscrub::Error);
}
