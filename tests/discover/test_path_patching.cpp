// Path patching checked against the IOI paper's Appendix B spelled out by hand on the residual stream
// (residual_arithmetic.hpp): no forward pass, no hooks, one prompt at a time.
#include <catch2/catch.hpp>
#include <cmath>

#include "cscrub/discover/path_patching.hpp"
#include "cscrub/error.hpp"
#include "discover_fixtures.hpp"
#include "residual_arithmetic.hpp"

using namespace cscrub;
using discover::Receiver;
using test::ResidualRun;
using test::RowMatrix;

namespace {

// The paper's three steps for one prompt: sender (layer, head) from the corrupted prompt, every other head
// frozen to its clean output, MLPs recomputed; then the receivers' q/k/v read from that stream (at
// `position`, or everywhere), all else recomputed from the clean prompt.
double path_patched_by_hand(const engine::Weights& weights, const data::Example& clean, const data::Example& corrupted,
                            int sender_layer, int sender_head, const std::vector<Receiver>& receivers,
                            std::optional<int> position) {
  const ResidualRun clean_run = test::run_by_hand(weights, clean.tokens);
  const ResidualRun corrupted_run = test::run_by_hand(weights, corrupted.tokens);
  const ResidualRun frozen = test::run_by_hand(weights, clean.tokens, [&](int layer, int head, const RowMatrix&) {
    return std::optional<RowMatrix>(layer == sender_layer && head == sender_head ? corrupted_run.heads[layer][head]
                                                                                 : clean_run.heads[layer][head]);
  });
  if (receivers.empty()) return test::logit_diff(weights, frozen, clean);
  const int positions = static_cast<int>(clean.tokens.size());
  const ResidualRun patched = test::run_by_hand(
      weights, clean.tokens, [&](int layer, int head, const RowMatrix& resid) -> std::optional<RowMatrix> {
        RowMatrix q = resid, k = resid, v = resid;
        bool receives = false;
        for (const Receiver& receiver : receivers) {
          if (receiver.layer != layer || receiver.head != head) continue;
          receives = true;
          RowMatrix& port = receiver.port == Receiver::Port::q ? q : receiver.port == Receiver::Port::k ? k : v;
          if (position)
            port.row(*position) = frozen.resid[static_cast<size_t>(layer)].row(*position);
          else
            port = frozen.resid[static_cast<size_t>(layer)];
        }
        if (!receives) return std::nullopt;
        return engine::head_output(weights, layer, head, 1, positions, q, k, v);
      });
  return test::logit_diff(weights, patched, clean);
}

struct Case {
  std::string receivers;
  std::string position;
};

}  // namespace

TEST_CASE("path patching agrees with the residual-stream arithmetic of Appendix B", "[discover][path]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(4);
  const engine::ModelConfig& config = fixture.weights.config;
  const Case cases[] = {{"2.1:q", ""}, {"2.0:k,1.3:v", ""}, {"2.2:q", "END"}, {"1.0:v,2.3:q", "P1"}, {"logits", ""}};
  for (const Case& c : cases) {
    discover::PathPatchingSpec spec{.receivers = discover::parse_receivers(c.receivers, config), .position = c.position};
    // Batches of 3 split both groups of 4, so batching is exercised too.
    const discover::Sweep sweep = discover::path_patching(fixture.weights, pairs, spec, 3);
    int last_layer = config.n_layer;
    if (!spec.receivers.empty()) {
      last_layer = 0;
      for (const Receiver& receiver : spec.receivers) last_layer = std::max(last_layer, receiver.layer);
    }
    double largest_effect = 0, worst = 0;
    for (int layer = 0; layer < config.n_layer; ++layer) {
      for (int head = 0; head < config.n_head; ++head) {
        const double value = sweep.patched.at(layer, head);
        INFO(c.receivers << " @" << c.position << ", sender " << layer << "." << head);
        if (layer >= last_layer) {
          CHECK(std::isnan(value));  // no path from this sender to any receiver
          continue;
        }
        double by_hand = 0;
        for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
          const data::Example& clean = pairs.clean.examples[i];
          const std::optional<int> position =
              c.position.empty() ? std::nullopt
                                 : std::optional<int>(clean.positions[*pairs.clean.schema.position_index(c.position)]);
          by_hand += path_patched_by_hand(fixture.weights, clean, pairs.corrupted.examples[i], layer, head,
                                          spec.receivers, position);
        }
        by_hand /= static_cast<double>(pairs.clean.examples.size());
        CHECK(value == Approx(by_hand).margin(1e-4));
        worst = std::max(worst, std::fabs(value - by_hand));
        largest_effect = std::max(largest_effect, std::fabs(value - sweep.clean));
      }
    }
    INFO(c.receivers << ": largest |patched - clean| " << largest_effect << ", largest difference " << worst);
    CHECK(largest_effect > 1e-2);  // the comparison is not between two unchanged runs
    CHECK(worst <= 1e-4);
  }
}

TEST_CASE("path patching's reference points are the unpatched runs", "[discover][path]") {
  const test::DiscoverFixture fixture;
  const discover::PairedDataset pairs = fixture.pairs(3);
  const discover::Sweep sweep = discover::path_patching(fixture.weights, pairs, {}, 64);
  double clean = 0, corrupted = 0;
  for (size_t i = 0; i < pairs.clean.examples.size(); ++i) {
    clean += test::logit_diff(fixture.weights, test::run_by_hand(fixture.weights, pairs.clean.examples[i].tokens),
                              pairs.clean.examples[i]);
    corrupted += test::logit_diff(fixture.weights, test::run_by_hand(fixture.weights, pairs.corrupted.examples[i].tokens),
                                  pairs.clean.examples[i]);
  }
  const double n = static_cast<double>(pairs.clean.examples.size());
  CHECK(sweep.clean == Approx(clean / n).margin(1e-4));
  CHECK(sweep.corrupted == Approx(corrupted / n).margin(1e-4));
  CHECK(sweep.base == sweep.clean);
  CHECK(sweep.prompts == static_cast<int>(n));
}

TEST_CASE("receivers are parsed and bad ones named", "[discover][path]") {
  const engine::ModelConfig config = test::small_config();
  CHECK(discover::parse_receivers("logits", config).empty());
  const auto receivers = discover::parse_receivers("2.1:q, 1.3:v", config);
  REQUIRE(receivers.size() == 2);
  CHECK((receivers[0].layer == 2 && receivers[0].head == 1 && receivers[0].port == Receiver::Port::q));
  CHECK((receivers[1].layer == 1 && receivers[1].head == 3 && receivers[1].port == Receiver::Port::v));
  CHECK(discover::describe(receivers) == "2.1:q, 1.3:v");
  CHECK_THROWS_WITH(discover::parse_receivers("2.1", config), Catch::Contains("'2.1' is not LAYER.HEAD:q"));
  CHECK_THROWS_WITH(discover::parse_receivers("2.9:q", config), Catch::Contains("head 9 does not exist"));
  CHECK_THROWS_WITH(discover::parse_receivers("7.0:k", config), Catch::Contains("layer 7 does not exist"));
  CHECK_THROWS_WITH(discover::parse_receivers("2.1:q,2.1:q", config), Catch::Contains("given twice"));
  const test::DiscoverFixture fixture;
  discover::PathPatchingSpec layer0{.receivers = discover::parse_receivers("0.1:q", config), .position = ""};
  CHECK_THROWS_WITH(discover::path_patching(fixture.weights, fixture.pairs(2), layer0, 8),
                    Catch::Contains("no sender heads"));
}
