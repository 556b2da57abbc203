// Zero, mean and resample ablations checked against the residual stream summed by hand.
#include <catch2/catch.hpp>
#include <map>

#include "cscrub/discover/ablation.hpp"
#include "cscrub/error.hpp"
#include "discover_fixtures.hpp"
#include "residual_arithmetic.hpp"

using namespace cscrub;
using engine::Site;
using test::ResidualRun;
using test::RowMatrix;

namespace {

const discover::Target kHead{{Site::attn_z, 1}, 2, ""};  // head 1.2, every position

// The logit difference of `example` with head 1.2's output replaced by `output`.
double with_head_output(const engine::Weights& weights, const data::Example& example, const RowMatrix& output) {
  const ResidualRun run = test::run_by_hand(weights, example.tokens, [&](int l, int h, const RowMatrix&) {
    return l == 1 && h == 2 ? std::optional<RowMatrix>(output) : std::nullopt;
  });
  return test::logit_diff(weights, run, example);
}

}  // namespace

TEST_CASE("zero ablation removes the head's output", "[discover][ablation]") {
  const test::DiscoverFixture fixture;
  const data::Dataset dataset = fixture.pairs(3).clean;
  const auto values = discover::ablated_logit_diffs(fixture.weights, dataset, dataset, {&kHead, 1}, discover::Ablation::zero, 0, 2);
  REQUIRE(values.size() == dataset.examples.size());
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& example = dataset.examples[i];
    const RowMatrix zero = RowMatrix::Zero(static_cast<Eigen::Index>(example.tokens.size()), fixture.weights.config.d_model);
    const double plain = test::logit_diff(fixture.weights, test::run_by_hand(fixture.weights, example.tokens), example);
    CHECK(values[i] == Approx(with_head_output(fixture.weights, example, zero)).margin(1e-4));
    CHECK(std::fabs(values[i] - plain) > 1e-4);  // the ablation did something
  }
}

TEST_CASE("mean ablation uses the mean over the reference prompts of the same group", "[discover][ablation]") {
  const test::DiscoverFixture fixture;
  const data::Dataset dataset = fixture.pairs(3).clean;
  const data::Dataset reference = test::synthetic_prompts(5, test::small_config().vocab_size, 99);
  const auto values =
      discover::ablated_logit_diffs(fixture.weights, dataset, reference, {&kHead, 1}, discover::Ablation::mean, 0, 64);
  // The head's output is linear in z, so the mean of z gives the mean of the outputs.
  std::map<std::string, RowMatrix> mean_output;
  std::map<std::string, int> count;
  for (const auto& example : reference.examples) {
    const RowMatrix output = test::run_by_hand(fixture.weights, example.tokens).heads[1][2];
    auto [it, fresh] = mean_output.try_emplace(example.group, RowMatrix::Zero(output.rows(), output.cols()));
    it->second += output;
    ++count[example.group];
  }
  for (size_t i = 0; i < values.size(); ++i) {
    const auto& example = dataset.examples[i];
    const RowMatrix mean = mean_output.at(example.group) / static_cast<float>(count.at(example.group));
    CHECK(values[i] == Approx(with_head_output(fixture.weights, example, mean)).margin(1e-4));
  }
  data::Dataset other_groups = reference;
  for (auto& example : other_groups.examples) example.group += "-other";
  CHECK_THROWS_WITH(discover::ablated_logit_diffs(fixture.weights, dataset, other_groups, {&kHead, 1},
                                                  discover::Ablation::mean, 0, 64),
                    Catch::Contains("no prompt of alignment group 'len6'"));
}

TEST_CASE("resample ablation takes another prompt of the group, seeded, whatever the batching", "[discover][ablation]") {
  const test::DiscoverFixture fixture;
  // Two prompts per group: the only other prompt is the partner.
  const data::Dataset dataset = fixture.pairs(2).clean;
  const auto values =
      discover::ablated_logit_diffs(fixture.weights, dataset, dataset, {&kHead, 1}, discover::Ablation::resample, 5, 1);
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t partner = i ^ 1;  // prompts 0,1 form one group, 2,3 the other
    const RowMatrix other = test::run_by_hand(fixture.weights, dataset.examples[partner].tokens).heads[1][2];
    CHECK(values[i] == Approx(with_head_output(fixture.weights, dataset.examples[i], other)).margin(1e-4));
  }
  // Larger groups: same seed, same draws, whatever the batch size; another seed, other draws.
  const data::Dataset larger = fixture.pairs(6).clean;
  const auto a = discover::ablated_logit_diffs(fixture.weights, larger, larger, {&kHead, 1}, discover::Ablation::resample, 5, 1);
  const auto b = discover::ablated_logit_diffs(fixture.weights, larger, larger, {&kHead, 1}, discover::Ablation::resample, 5, 64);
  const auto c = discover::ablated_logit_diffs(fixture.weights, larger, larger, {&kHead, 1}, discover::Ablation::resample, 6, 64);
  for (size_t i = 0; i < a.size(); ++i) CHECK(a[i] == Approx(b[i]).margin(1e-9));
  CHECK(a != c);

  data::Dataset lonely = dataset;
  lonely.examples.resize(1);
  CHECK_THROWS_WITH(discover::ablated_logit_diffs(fixture.weights, lonely, lonely, {&kHead, 1},
                                                  discover::Ablation::resample, 5, 1),
                    Catch::Contains("no other prompt"));
}

TEST_CASE("an ablation sweep measures against the clean and corrupted runs", "[discover][ablation]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(3);
  const auto grid = discover::head_targets(fixture.weights.config, Site::attn_z, "");
  const discover::Sweep sweep = discover::ablation_sweep(fixture.weights, pairs, grid, discover::Ablation::zero, 0, 4);
  CHECK(sweep.base == sweep.clean);
  const discover::Target target{{Site::attn_z, 1}, 2, ""};
  const auto values = discover::ablated_logit_diffs(fixture.weights, pairs.clean, pairs.corrupted, {&target, 1},
                                                    discover::Ablation::zero, 0, 4);
  double mean = 0;
  for (double value : values) mean += value / static_cast<double>(values.size());
  CHECK(sweep.patched.at(1, 2) == Approx(mean).margin(1e-9));
  CHECK(sweep.normalized().at(1, 2) == Approx((mean - sweep.clean) / (sweep.clean - sweep.corrupted)));
  CHECK(discover::parse_ablation("mean") == discover::Ablation::mean);
  CHECK_THROWS_WITH(discover::parse_ablation("median"), Catch::Contains("unknown ablation"));
}
