// Golden tests of the backward pass: engine::backward on random GPT-2, GPT-Neo and GPT-NeoX (Pythia) models
// (tools/make_random_model.py) against
// PyTorch's autograd in float64 (tools/reference_forward.py --logit-grad --float64), every gradient the engine
// offers compared and its largest difference printed, for whole-vocabulary logit gradients at every position and
// for two-column gradients at the last position (what a logit difference gives), in every matrix-product kernel
// this machine runs.
#include <catch2/catch.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "cscrub/engine/backward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/npy.hpp"
#include "matmul_kernels.hpp"
#include "random_model.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

// |engine - reference| <= kRelativeToLargest * max |reference| + kRelative * |reference|: gradients span orders
// of magnitude within one tensor, and float32 rounding grows with the largest terms summed into each.
constexpr double kRelativeToLargest = 2e-5;
constexpr double kRelative = 1e-4;

std::vector<int32_t> random_ids(int count, int vocab, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> pick(0, vocab - 1);
  std::vector<int32_t> ids(static_cast<size_t>(count));
  for (int32_t& id : ids) id = pick(generator);
  return ids;
}

// The logit gradient the engine takes (the request's rows and columns) and the same as the reference takes it,
// the whole [batch, pos, vocab] with zeros elsewhere.
struct LogitGradient {
  engine::LogitRequest request;
  engine::RowMatrix values;
  std::vector<float> full;
};

LogitGradient everywhere(int batch, int positions, int vocab, unsigned seed) {
  LogitGradient gradient;
  gradient.values.resize(static_cast<Eigen::Index>(batch) * positions, vocab);
  std::mt19937 generator(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  for (Eigen::Index i = 0; i < gradient.values.size(); ++i) gradient.values.data()[i] = normal(generator);
  gradient.full.assign(gradient.values.data(), gradient.values.data() + gradient.values.size());
  return gradient;
}

// +1 on an answer and -1 on a distractor at each sequence's last position.
LogitGradient logit_difference(int batch, int positions, int vocab, unsigned seed) {
  const std::vector<int32_t> ids = random_ids(2 * batch, vocab, seed);
  LogitGradient gradient;
  gradient.request.positions = engine::LogitRequest::Positions::last;
  gradient.request.token_ids = ids;
  std::sort(gradient.request.token_ids.begin(), gradient.request.token_ids.end());
  gradient.request.token_ids.erase(std::unique(gradient.request.token_ids.begin(), gradient.request.token_ids.end()),
                                   gradient.request.token_ids.end());
  const auto& columns = gradient.request.token_ids;
  gradient.values = engine::RowMatrix::Zero(batch, static_cast<Eigen::Index>(columns.size()));
  gradient.full.assign(static_cast<size_t>(batch) * positions * vocab, 0.0f);
  for (int b = 0; b < batch; ++b) {
    for (const auto& [id, sign] : {std::pair{ids[2 * b], 1.0f}, std::pair{ids[2 * b + 1], -1.0f}}) {
      const auto column = std::lower_bound(columns.begin(), columns.end(), id) - columns.begin();
      gradient.values(b, column) += sign;
      gradient.full[(static_cast<size_t>(b) * positions + positions - 1) * vocab + id] += sign;
    }
  }
  return gradient;
}

std::set<engine::HookPoint> gradient_hooks(const engine::ModelConfig& config) {
  std::set<engine::HookPoint> hooks;
  for (const engine::SiteInfo& info : engine::sites()) {
    if (!engine::has_gradient(info.site) || !engine::has_site(config, info.site)) continue;
    if (!info.per_layer) hooks.insert({info.site, -1});
    else
      for (int layer = 0; layer < config.n_layer; ++layer) hooks.insert({info.site, layer});
  }
  return hooks;
}

// Every recorded gradient against the reference's <hook>.grad.npy; prints one line per tensor.
void check_gradients(const engine::ActivationCache& gradients, const fs::path& reference_dir, const std::string& title) {
  std::ostringstream report;
  report << title << "\n";
  double worst_ratio = 0;
  for (const auto& [hook, stored] : gradients.all()) {
    const std::string name = engine::hook_name(hook);
    INFO("gradient of " << name);
    const fs::path file = reference_dir / (name + ".grad.npy");
    REQUIRE(fs::exists(file));
    const io::NpyArray reference = io::read_npy(file);
    REQUIRE(reference.shape == std::vector<int64_t>(stored.shape.begin(), stored.shape.begin() + stored.rank));
    const auto& expected = std::get<std::vector<float>>(reference.values);
    double largest = 0;
    for (float value : expected) largest = std::max(largest, std::abs(static_cast<double>(value)));
    double max_difference = 0, max_ratio = 0;
    size_t violations = 0, first = 0;
    for (size_t i = 0; i < expected.size(); ++i) {
      const double difference = std::abs(static_cast<double>(stored.values[i]) - expected[i]);
      const double allowed = kRelativeToLargest * largest + kRelative * std::abs(expected[i]);
      max_difference = std::max(max_difference, difference);
      if (allowed > 0) max_ratio = std::max(max_ratio, difference / allowed);
      if (!(difference <= allowed) && violations++ == 0) first = i;
    }
    worst_ratio = std::max(worst_ratio, max_ratio);
    report << "    " << std::left << std::setw(30) << name << " max |diff| " << std::scientific << std::setprecision(2)
           << max_difference << " (largest |gradient| " << largest << ")" << std::defaultfloat << "\n";
    INFO(violations << " values beyond tolerance, first at " << first << ": engine " << stored.values[first]
                    << ", reference " << expected[first] << "; largest |reference| " << largest);
    CHECK(violations == 0);
  }
  report << "    worst difference / tolerance over " << gradients.all().size() << " gradients: " << worst_ratio << "\n";
  std::cout << report.str() << std::flush;
}

struct Case {
  test::RandomModelOptions model;
  int batch, positions;
};

void check_case(const Case& c, const std::string& label, const std::optional<std::set<std::string>>& only = {}) {
  const fs::path dir = test::scratch_dir("backward-parity");
  test::make_random_model(dir / "model", c.model);
  const std::vector<int32_t> tokens = random_ids(c.batch * c.positions, c.model.vocab, 31);
  const fs::path tokens_npy = dir / "tokens.npy";
  io::write_npy(tokens_npy, tokens, std::vector<int64_t>{c.batch, c.positions});
  engine::Weights weights = io::load_weights(dir / "model");
  std::set<engine::HookPoint> hooks = gradient_hooks(weights.config);
  std::string hooks_argument;
  if (only) {
    hooks.clear();
    hooks_argument = " --hooks";
    for (const std::string& name : *only) {
      hooks.insert(engine::parse_hook_name(name, weights.config));
      hooks_argument += " " + name;
    }
  }
  const std::vector<std::pair<std::string, LogitGradient>> gradients = {
      {"whole-vocabulary gradients at every position", everywhere(c.batch, c.positions, c.model.vocab, 32)},
      {"a logit difference at the last position", logit_difference(c.batch, c.positions, c.model.vocab, 33)}};
  for (size_t g = 0; g < gradients.size(); ++g) {
    const auto& [what, gradient] = gradients[g];
    const fs::path reference_dir = dir / ("reference-" + std::to_string(g));
    const fs::path gradient_npy = dir / ("logit-grad-" + std::to_string(g) + ".npy");
    io::write_npy(gradient_npy, gradient.full, std::vector<int64_t>{c.batch, c.positions, c.model.vocab});
    test::run_reference(dir / "model", tokens_npy, reference_dir,
                        "--float64 --logit-grad " + test::shell_quote(gradient_npy.string()) + hooks_argument);
    for (const engine::MatmulKernel kernel : test::matmul_kernels_here()) {
      INFO(label << ", " << what << ", " << engine::to_string(kernel));
      weights.matmul = kernel;
      engine::BackwardTape tape;
      engine::RowMatrix logits;
      engine::forward_for_backward(weights, {tokens, c.batch, c.positions}, gradient.request, logits, tape);
      engine::ActivationCache recorded(hooks);
      engine::backward(weights, tape, gradient.request, gradient.values, &recorded);
      REQUIRE(recorded.all().size() == hooks.size());
      check_gradients(recorded, reference_dir,
                      label + "; " + what + ", " + std::string(engine::to_string(kernel)));
    }
  }
  fs::remove_all(dir / "model");
}

}  // namespace

TEST_CASE("backward parity: every gradient matches PyTorch's autograd in float64", "[io][parity][backward]") {
  auto model = [](int layers, int heads, int d_model, int vocab, int n_ctx, const char* dtype, int seed) {
    return test::RandomModelOptions{.layers = layers, .heads = heads, .d_model = d_model, .vocab = vocab,
                                    .n_ctx = n_ctx, .dtype = dtype, .seed = seed};
  };
  const std::vector<Case> cases = {
      {model(2, 4, 64, 97, 32, "F32", 41), 2, 7},
      {model(3, 2, 48, 61, 24, "F16", 42), 3, 5},
      {model(2, 4, 64, 97, 32, "BF16", 43), 2, 11},
      {model(1, 1, 32, 50, 16, "F32", 44), 2, 1},   // one head, one position
      {model(2, 2, 64, 97, 64, "F32", 45), 1, 37},  // keys past whole blocks of 16
  };
  for (size_t index = 0; index < cases.size(); ++index) {
    const Case& c = cases[index];
    const std::string label = c.model.describe() + "; batch " + std::to_string(c.batch) + " x " +
                              std::to_string(c.positions) + " tokens";
    DYNAMIC_SECTION("case " << index << ": " << label) { check_case(c, label); }
  }
}

// Each way the families' forwards differ, mirrored in the backward: GPT-Neo's unscaled scores and local windows
// (shorter than the prompt, so that keys fall out), exact GELU, an untied unembedding; GPT-NeoX's rotary q/k (on
// part of a head and on all of it), parallel and sequential blocks, no attention biases, a narrow MLP (n_inner).
TEST_CASE("backward parity: GPT-Neo and GPT-NeoX (Pythia) against PyTorch's autograd in float64",
          "[io][parity][backward][families]") {
  auto model = [](int layers, int heads, int d_model, const char* dtype, int seed, const char* family,
                  const char* extra) {
    return test::RandomModelOptions{.family = family, .layers = layers, .heads = heads, .d_model = d_model,
                                    .vocab = 61, .n_ctx = 32, .dtype = dtype, .seed = seed, .extra = extra};
  };
  const std::vector<Case> cases = {
      {model(4, 4, 64, "F32", 51, "gpt_neo", "--window 3"), 2, 9},  // global, local, global, local
      {model(2, 2, 48, "BF16", 52, "gpt_neo", "--window 1 --untied --activation gelu"), 2, 6},
      {model(2, 4, 64, "F32", 53, "gpt_neox", ""), 2, 9},
      {model(2, 2, 48, "F16", 54, "gpt_neox", "--rotary-pct 0.5 --sequential --no-attention-bias"), 3, 7},
      {model(2, 4, 64, "F32", 55, "gpt_neox", "--rotary-pct 1 --tied --n-inner 96"), 2, 8},
  };
  for (size_t index = 0; index < cases.size(); ++index) {
    const Case& c = cases[index];
    const std::string label = c.model.describe() + "; batch " + std::to_string(c.batch) + " x " +
                              std::to_string(c.positions) + " tokens";
    DYNAMIC_SECTION("case " << index << ": " << label) { check_case(c, label); }
  }
}

TEST_CASE("backward parity: a GPT-2-small-shaped random model", "[io][parity][backward][slow]") {
  const Case c{{.layers = 12, .heads = 12, .d_model = 768, .vocab = 50257, .n_ctx = 1024, .seed = 46}, 2, 12};
  check_case(c, "GPT-2-small shape: " + c.model.describe() + "; batch 2 x 12 tokens",
             std::set<std::string>{"hook_embed", "blocks.0.hook_q_input", "blocks.3.hook_k_input",
                                   "blocks.5.attn.hook_z", "blocks.6.hook_v_input", "blocks.7.mlp.hook_pre",
                                   "blocks.9.hook_mlp_in", "blocks.11.hook_resid_mid", "blocks.11.hook_resid_post"});
}
