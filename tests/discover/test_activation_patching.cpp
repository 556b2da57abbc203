// Activation patching: identities that must hold exactly, and one head patched checked against the residual
// stream summed by hand.
#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/activation_patching.hpp"
#include "cscrub/error.hpp"
#include "discover_fixtures.hpp"
#include "residual_arithmetic.hpp"

using namespace cscrub;
using engine::Site;
using test::ResidualRun;
using test::RowMatrix;

namespace {

// Pairs whose corrupted prompt is the clean prompt itself.
discover::PairedDataset self_pairs(const discover::PairedDataset& pairs) {
  discover::PairedDataset same = pairs;
  same.corrupted = same.clean;
  return same;
}

}  // namespace

TEST_CASE("patching a clean activation into the clean run changes nothing, exactly", "[discover][patching]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = self_pairs(fixture.pairs(3));
  const engine::ModelConfig& config = fixture.weights.config;
  const Site layer_sites[] = {Site::resid_pre, Site::attn_out, Site::mlp_out, Site::resid_post};
  const discover::TargetGrid grids[] = {
      discover::head_targets(config, Site::attn_z, ""),     discover::head_targets(config, Site::attn_z, "END"),
      discover::head_targets(config, Site::attn_q, "P1"),   discover::head_targets(config, Site::attn_pattern, ""),
      discover::layer_targets(config, layer_sites, ""),     discover::position_targets(config, Site::resid_pre, pairs.clean.schema)};
  for (const auto& grid : grids) {
    for (auto direction : {discover::Direction::denoise, discover::Direction::noise}) {
      const discover::Sweep sweep = discover::activation_patching(fixture.weights, pairs, grid, direction, 2);
      CHECK(sweep.clean == sweep.corrupted);
      for (double value : sweep.patched.values) {
        INFO(discover::describe(grid.cells.front().front()) << ", " << discover::to_string(direction));
        CHECK(value == sweep.clean);
      }
    }
  }
}

TEST_CASE("patching a whole residual stream gives the source run", "[discover][patching]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(4);
  const engine::ModelConfig& config = fixture.weights.config;
  const Site whole_stream[] = {Site::resid_pre, Site::resid_mid, Site::resid_post};
  const discover::TargetGrid grid = discover::layer_targets(config, whole_stream, "");
  const discover::Sweep denoised = discover::activation_patching(fixture.weights, pairs, grid, discover::Direction::denoise, 3);
  const discover::Sweep noised = discover::activation_patching(fixture.weights, pairs, grid, discover::Direction::noise, 3);
  REQUIRE(std::fabs(denoised.clean - denoised.corrupted) > 0.1);  // the pairs differ
  for (double value : denoised.patched.values) CHECK(value == denoised.clean);
  for (double value : noised.patched.values) CHECK(value == noised.corrupted);
  for (double value : denoised.normalized().values) CHECK(value == Approx(1.0));
  for (double value : noised.normalized().values) CHECK(value == Approx(-1.0));

  // Every writer of the residual stream patched at once (embeddings, every head, every MLP).
  discover::TargetGrid everything{.layout = discover::numbered_grid("all", 1, "all", 1), .cells = {{}}};
  everything.cells[0].push_back({{Site::embed, -1}, std::nullopt, ""});
  everything.cells[0].push_back({{Site::pos_embed, -1}, std::nullopt, ""});
  for (int layer = 0; layer < config.n_layer; ++layer) {
    everything.cells[0].push_back({{Site::attn_z, layer}, std::nullopt, ""});
    everything.cells[0].push_back({{Site::mlp_out, layer}, std::nullopt, ""});
  }
  CHECK(discover::activation_patching(fixture.weights, pairs, everything, discover::Direction::denoise, 64).patched.values[0] ==
        denoised.clean);
}

TEST_CASE("noising one head agrees with the residual stream summed by hand", "[discover][patching]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(4);
  const engine::ModelConfig& config = fixture.weights.config;
  for (const std::string position : {"", "P1"}) {
    const discover::Sweep sweep = discover::activation_patching(
        fixture.weights, pairs, discover::head_targets(config, Site::attn_z, position), discover::Direction::noise, 3);
    double largest_effect = 0;
    for (int layer = 0; layer < config.n_layer; ++layer) {
      for (int head = 0; head < config.n_head; ++head) {
        double by_hand = 0;
        for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
          const data::Example& clean = pairs.clean.examples[i];
          const ResidualRun corrupted = test::run_by_hand(fixture.weights, pairs.corrupted.examples[i].tokens);
          // The head's output from the corrupted prompt (at P1 only, or everywhere), all else recomputed.
          const ResidualRun patched = test::run_by_hand(
              fixture.weights, clean.tokens, [&](int l, int h, const RowMatrix& resid) -> std::optional<RowMatrix> {
                if (l != layer || h != head) return std::nullopt;
                if (position.empty()) return corrupted.heads[l][h];
                const int positions = static_cast<int>(clean.tokens.size());
                RowMatrix out = engine::head_output(fixture.weights, l, h, 1, positions, resid, resid, resid);
                out.row(clean.positions[0]) = corrupted.heads[l][h].row(clean.positions[0]);
                return out;
              });
          by_hand += test::logit_diff(fixture.weights, patched, clean);
        }
        by_hand /= static_cast<double>(pairs.clean.examples.size());
        INFO("head " << layer << "." << head << " @" << position);
        CHECK(sweep.patched.at(layer, head) == Approx(by_hand).margin(1e-4));
        largest_effect = std::max(largest_effect, std::fabs(sweep.change().at(layer, head)));
      }
    }
    CHECK(largest_effect > 1e-2);
  }
}

TEST_CASE("patching results do not depend on the batch size", "[discover][patching]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(5);
  const auto grid = discover::head_targets(fixture.weights.config, Site::attn_z, "END");
  const auto one = discover::activation_patching(fixture.weights, pairs, grid, discover::Direction::denoise, 1);
  const auto many = discover::activation_patching(fixture.weights, pairs, grid, discover::Direction::denoise, 64);
  for (size_t i = 0; i < one.patched.values.size(); ++i) CHECK(one.patched.values[i] == Approx(many.patched.values[i]).margin(1e-9));
}

TEST_CASE("sites, heads and grids are named and checked", "[discover][patching]") {
  const engine::ModelConfig config = test::small_config();
  CHECK(discover::parse_site("z") == Site::attn_z);
  CHECK(discover::parse_site("attn.hook_z") == Site::attn_z);
  CHECK(discover::parse_site("resid_pre") == Site::resid_pre);
  CHECK(discover::parse_site("hook_mlp_out") == Site::mlp_out);
  CHECK(discover::parse_site("ln1.scale") == Site::ln1_scale);
  for (const engine::SiteInfo& info : engine::sites()) CHECK(discover::parse_site(discover::short_site_name(info.site)) == info.site);
  CHECK_THROWS_WITH(discover::parse_site("resid_pr"), Catch::Contains("did you mean 'resid_pre'"));
  CHECK_THROWS_WITH(discover::head_targets(config, Site::resid_pre, ""), Catch::Contains("no head dimension"));
  CHECK_THROWS_WITH(discover::layer_targets(config, std::vector<Site>{Site::embed}, ""), Catch::Contains("not inside a block"));
  CHECK(discover::parse_head("2.3", config) == discover::HeadId{2, 3});
  CHECK_THROWS_WITH(discover::parse_head("2", config), Catch::Contains("not a head"));
  CHECK_THROWS_WITH(discover::parse_head("3.0", config), Catch::Contains("layer 3 does not exist"));
  CHECK_THROWS_WITH(discover::parse_direction("forward"), Catch::Contains("unknown patching direction"));

  const test::DiscoverFixture fixture;
  CHECK_THROWS_WITH(discover::activation_patching(fixture.weights, fixture.pairs(2),
                                                  discover::head_targets(config, Site::attn_z, "S2"),
                                                  discover::Direction::noise, 8),
                    Catch::Contains("has no position 'S2'"));
  const auto grid = discover::position_targets(config, Site::resid_pre, fixture.pairs(2).clean.schema);
  CHECK(grid.layout.column_labels == std::vector<std::string>{"P1", "END"});
  CHECK(grid.layout.rows() == config.n_layer);
}
