// Golden tests in llm.c's style: engine::forward on random GPT-2 models (tools/make_random_model.py)
// against the independent PyTorch reference (tools/reference_forward.py), comparing the logits and every
// hook point, reads and patches alike, and printing the largest difference per hook; in every matrix-product
// kernel this machine runs.
#include <catch2/catch.hpp>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <random>
#include <sstream>

#include "cscrub/engine/forward.hpp"
#include "cscrub/engine/interventions.hpp"
#include "cscrub/io/model_dir.hpp"
#include "cscrub/io/npy.hpp"
#include "matmul_kernels.hpp"
#include "random_model.hpp"
#include "test_paths.hpp"

namespace fs = std::filesystem;
using namespace cscrub;

namespace {

// |engine - reference| <= kAbsolute + kRelative * |reference|; equal infinities (masked scores) agree.
constexpr double kAbsolute = 1e-3;
constexpr double kRelative = 1e-4;

struct Comparison {
  double max_difference = 0;
  size_t worst = 0;
  size_t violations = 0;
  size_t first_violation = 0;
};

Comparison compare_values(std::span<const float> engine, std::span<const float> reference) {
  REQUIRE(engine.size() == reference.size());
  Comparison result;
  for (size_t i = 0; i < engine.size(); ++i) {
    const double a = engine[i], b = reference[i];
    double difference = 0;
    if (std::isinf(b) || std::isinf(a)) difference = a == b ? 0 : INFINITY;
    else if (std::isnan(a) || std::isnan(b)) difference = INFINITY;
    else difference = std::abs(a - b);
    if (difference > result.max_difference) {
      result.max_difference = difference;
      result.worst = i;
    }
    if (!(difference <= kAbsolute + kRelative * std::abs(b)) && result.violations++ == 0) result.first_violation = i;
  }
  return result;
}

io::NpyArray read_floats(const fs::path& path) {
  io::NpyArray array = io::read_npy(path);
  REQUIRE(std::holds_alternative<std::vector<float>>(array.values));
  return array;
}

// Compares one named tensor (shape and values); prints a line "name  max|diff|"; returns the max difference.
double check_tensor(const std::string& name, const std::vector<int64_t>& engine_shape, std::span<const float> engine,
                    const fs::path& reference_file, std::ostream& report) {
  INFO("tensor " << name << " vs " << reference_file);
  REQUIRE(fs::exists(reference_file));
  const io::NpyArray reference = read_floats(reference_file);
  REQUIRE(engine_shape == reference.shape);
  const auto& expected = std::get<std::vector<float>>(reference.values);
  const Comparison c = compare_values(engine, expected);
  report << "    " << std::left << std::setw(34) << name << " max |diff| " << std::scientific << std::setprecision(2)
         << c.max_difference << std::defaultfloat << "\n";
  INFO("max |diff| " << c.max_difference << " at flat index " << c.worst << "; " << c.violations
                     << " values beyond tolerance, first at " << c.first_violation << ": engine "
                     << (c.violations ? engine[c.first_violation] : 0.0f) << ", reference "
                     << (c.violations ? expected[c.first_violation] : 0.0f));
  CHECK(c.violations == 0);
  return c.max_difference;
}

std::vector<int64_t> shape_of(const engine::StoredActivation& stored) {
  return {stored.shape.begin(), stored.shape.begin() + stored.rank};
}

// Every recorded hook and the logits [batch * pos, vocab] against the reference's files in `reference_dir`.
void check_against_reference(const engine::ActivationCache& cache, const engine::RowMatrix& logits, int batch,
                             int positions, const fs::path& reference_dir, const std::string& title) {
  std::ostringstream report;
  report << title << "\n";
  const std::vector<int64_t> logit_shape = {batch, positions, logits.cols()};
  double worst = check_tensor("logits", logit_shape, {logits.data(), static_cast<size_t>(logits.size())},
                              reference_dir / "logits.npy", report);
  for (const auto& [hook, stored] : cache.all()) {
    const std::string name = engine::hook_name(hook);
    worst = std::max(worst, check_tensor(name, shape_of(stored), stored.values, reference_dir / (name + ".npy"), report));
  }
  report << "    worst over " << cache.all().size() + 1 << " tensors: " << worst << "\n";
  std::cout << report.str() << std::flush;
}

std::vector<int32_t> random_tokens(int count, int vocab, unsigned seed) {
  std::mt19937 generator(seed);
  std::uniform_int_distribution<int32_t> token(0, vocab - 1);
  std::vector<int32_t> tokens(static_cast<size_t>(count));
  for (int32_t& t : tokens) t = token(generator);
  tokens.front() = vocab - 1;  // the vocabulary's edges are where indexing bugs show
  tokens.back() = 0;
  return tokens;
}

fs::path write_tokens(const fs::path& dir, const std::string& name, const std::vector<int32_t>& tokens, int batch,
                      int positions) {
  const fs::path path = dir / name;
  io::write_npy(path, tokens, std::vector<int64_t>{batch, positions});
  return path;
}

struct ParityCase {
  test::RandomModelOptions model;
  int batch;
  int positions;
};

std::string describe(const ParityCase& c) {
  return c.model.describe() + "; batch " + std::to_string(c.batch) + " x " + std::to_string(c.positions) + " tokens";
}

std::vector<ParityCase> parity_cases() {
  std::vector<ParityCase> cases;
  auto model = [](int layers, int heads, int d_model, int vocab, int n_ctx, const char* dtype, bool variants, int seed,
                  const char* family = "gpt2", const char* extra = "") {
    test::RandomModelOptions options{.family = family, .layers = layers, .heads = heads, .d_model = d_model,
        .vocab = vocab, .n_ctx = n_ctx, .dtype = dtype, .prefix = variants, .lm_head = variants, .buffers = variants,
        .seed = seed, .extra = extra};
    return options;
  };
  cases.push_back({model(2, 4, 64, 97, 32, "F32", false, 1), 1, 7});
  cases.push_back({model(3, 2, 48, 61, 24, "F16", true, 2), 3, 5});
  cases.push_back({model(2, 4, 64, 97, 32, "BF16", true, 3), 2, 11});
  cases.push_back({model(3, 2, 48, 61, 24, "F32", true, 4), 2, 13});
  cases.push_back({model(2, 4, 64, 97, 32, "F16", false, 5), 4, 9});
  cases.push_back({model(1, 1, 32, 50, 16, "BF16", false, 6), 2, 1});   // one head, one position
  cases.push_back({model(2, 8, 128, 200, 16, "F32", false, 7), 2, 16});  // sequences filling n_ctx
  cases.push_back({model(2, 2, 64, 97, 64, "F32", false, 8), 2, 37});  // keys past whole blocks of 16
  // Stanford CRFM's GPT-2: scores also divided by layer + 1; reorder_and_upcast_attn; erf GELU, unscaled, untied.
  cases.push_back({model(3, 4, 64, 97, 32, "F32", false, 9, "gpt2", "--scale-by-layer --reorder-and-upcast"), 2, 9});
  cases.push_back({model(2, 2, 32, 61, 16, "BF16", true, 10, "gpt2", "--scale-by-layer --activation gelu --untied"), 2, 8});
  cases.push_back({model(2, 2, 32, 61, 16, "F16", false, 11, "gpt2", "--no-scale-attn --activation gelu_fast"), 1, 6});
  // GPT-Neo: global and local layers (a window shorter than the sequence, of 1, and longer), no score scaling.
  cases.push_back({model(4, 4, 64, 97, 32, "F32", false, 12, "gpt_neo", "--window 3"), 2, 11});
  cases.push_back({model(3, 2, 48, 61, 24, "F16", true, 13, "gpt_neo",
                         "--window 5 --attention-types '[[[\"local\"], 1], [[\"global\", \"local\"], 1]]'"), 3, 20});
  cases.push_back({model(2, 4, 64, 97, 32, "BF16", true, 14, "gpt_neo", "--window 1 --untied --activation gelu"), 2, 7});
  cases.push_back({model(2, 2, 32, 61, 40, "F32", false, 15, "gpt_neo", "--window 64"), 2, 37});
  // GPT-NeoX (Pythia): rotary on a quarter, half or all of each head, parallel and sequential residual,
  // fused per-head q/k/v, untied embed_out, erf GELU.
  cases.push_back({model(2, 4, 64, 97, 32, "F32", false, 16, "gpt_neox"), 2, 9});
  cases.push_back({model(3, 2, 48, 61, 24, "F16", true, 17, "gpt_neox", "--rotary-pct 0.5 --sequential"), 3, 13});
  cases.push_back({model(2, 4, 64, 97, 32, "BF16", true, 18, "gpt_neox", "--rotary-pct 1 --rotary-base 500 --tied"), 2, 11});
  cases.push_back({model(2, 2, 40, 61, 40, "F32", false, 19, "gpt_neox",
                         "--rotary-pct 0.3 --no-attention-bias --rope-parameters --activation gelu_new"), 2, 37});
  // Attention-only GPT-2 (n_inner 0): each MLP adds only its c_proj bias.
  cases.push_back({model(2, 4, 64, 97, 32, "F32", true, 20, "gpt2", "--n-inner 0"), 3, 10});
  return cases;
}

// Every hook the model has (hook_pos_embed only with learned positions, hook_rot_q/k only with rotary ones).
size_t hook_count(const engine::ModelConfig& config) {
  size_t count = 0;
  for (const engine::SiteInfo& info : engine::sites())
    if (engine::has_site(config, info.site)) count += info.per_layer ? static_cast<size_t>(config.n_layer) : 1;
  return count;
}

}  // namespace

TEST_CASE("forward parity: logits and every hook match the PyTorch reference", "[io][parity]") {
  const auto cases = parity_cases();
  for (size_t index = 0; index < cases.size(); ++index) {
    const ParityCase& c = cases[index];
    DYNAMIC_SECTION("case " << index << ": " << describe(c)) {
      const fs::path dir = test::scratch_dir("parity");
      test::make_random_model(dir / "model", c.model);
      const auto tokens = random_tokens(c.batch * c.positions, c.model.vocab, 100 + static_cast<unsigned>(index));
      const fs::path tokens_npy = write_tokens(dir, "tokens.npy", tokens, c.batch, c.positions);
      test::run_reference(dir / "model", tokens_npy, dir / "reference");

      engine::Weights weights = io::load_weights(dir / "model");
      for (const engine::MatmulKernel kernel : test::matmul_kernels_here()) {
        INFO(engine::to_string(kernel));
        weights.matmul = kernel;
        auto cache = engine::ActivationCache::record_all(weights.config);
        const engine::TokenBatch batch{tokens, c.batch, c.positions};
        const engine::RowMatrix logits = engine::forward(weights, batch, {}, &cache);
        CHECK(cache.all().size() == hook_count(weights.config));  // every hook was offered
        check_against_reference(cache, logits, c.batch, c.positions, dir / "reference",
                                describe(c) + ", " + std::string(engine::to_string(kernel)));

        // Recording must not change the result: the plain forward gives the same logits.
        const engine::RowMatrix plain = engine::forward(weights, batch, {});
        REQUIRE(plain.rows() == logits.rows());
        CHECK((plain - logits).cwiseAbs().maxCoeff() <= 1e-5f);
      }
    }
  }
}

TEST_CASE("forward parity: logit requests select the reference's rows and columns", "[io][parity]") {
  const fs::path dir = test::scratch_dir("parity-requests");
  test::RandomModelOptions options{.layers = 2, .heads = 2, .d_model = 32, .vocab = 70, .n_ctx = 16, .seed = 11};
  test::make_random_model(dir / "model", options);
  const int batch = 3, positions = 6;
  const auto tokens = random_tokens(batch * positions, options.vocab, 5);
  test::run_reference(dir / "model", write_tokens(dir, "tokens.npy", tokens, batch, positions), dir / "reference",
                      "--hooks");
  const io::NpyArray reference = read_floats(dir / "reference" / "logits.npy");
  const auto& all = std::get<std::vector<float>>(reference.values);
  auto expected = [&](int b, int p, int token) { return all[(static_cast<size_t>(b) * positions + p) * options.vocab + token]; };

  engine::Weights weights = io::load_weights(dir / "model");
  weights.matmul = GENERATE(from_range(test::matmul_kernels_here()));
  INFO(engine::to_string(weights.matmul));
  const engine::TokenBatch token_batch{tokens, batch, positions};
  const std::vector<int32_t> columns = {3, 0, 69, 3};

  engine::LogitRequest last;
  last.positions = engine::LogitRequest::Positions::last;
  engine::LogitRequest per_row;
  per_row.positions = engine::LogitRequest::Positions::per_row;
  per_row.row_positions = {5, 0, 2};
  per_row.token_ids = columns;

  const engine::RowMatrix last_logits = engine::forward(weights, token_batch, last);
  REQUIRE(last_logits.rows() == batch);
  REQUIRE(last_logits.cols() == options.vocab);
  const engine::RowMatrix selected = engine::forward(weights, token_batch, per_row);
  REQUIRE(selected.rows() == batch);
  REQUIRE(selected.cols() == static_cast<int>(columns.size()));
  double worst = 0;
  for (int b = 0; b < batch; ++b) {
    for (int t = 0; t < options.vocab; ++t) {
      const double difference = std::abs(last_logits(b, t) - expected(b, positions - 1, t));
      worst = std::max(worst, difference);
      CHECK(difference <= kAbsolute + kRelative * std::abs(expected(b, positions - 1, t)));
    }
    for (size_t j = 0; j < columns.size(); ++j) {
      const float want = expected(b, per_row.row_positions[static_cast<size_t>(b)], columns[j]);
      CHECK(std::abs(selected(b, static_cast<int>(j)) - want) <= kAbsolute + kRelative * std::abs(want));
    }
  }
  std::cout << "logit requests (last, per_row with columns): max |diff| " << worst << "\n";
}

TEST_CASE("forward parity: patches change the forward exactly as the reference's patches do", "[io][parity]") {
  const fs::path dir = test::scratch_dir("parity-patch");
  test::RandomModelOptions options{.dtype = "F16", .seed = 21};  // 2 layers, 4 heads, d_model 64, vocab 97
  test::make_random_model(dir / "model", options);
  const int batch = 2, positions = 9;
  const auto clean = random_tokens(batch * positions, options.vocab, 1);
  const auto corrupt = random_tokens(batch * positions, options.vocab, 2);
  const fs::path clean_npy = write_tokens(dir, "clean.npy", clean, batch, positions);
  const fs::path corrupt_npy = write_tokens(dir, "corrupt.npy", corrupt, batch, positions);
  test::run_reference(dir / "model", clean_npy, dir / "clean");
  test::run_reference(dir / "model", corrupt_npy, dir / "corrupt");

  engine::Weights weights = io::load_weights(dir / "model");
  weights.matmul = GENERATE(from_range(test::matmul_kernels_here()));
  INFO(engine::to_string(weights.matmul));
  const engine::ModelConfig& config = weights.config;
  auto corrupt_cache = engine::ActivationCache::record_all(config);
  (void)engine::forward(weights, {corrupt, batch, positions}, {}, &corrupt_cache);
  auto clean_cache = engine::ActivationCache::record_all(config);
  const engine::RowMatrix clean_logits = engine::forward(weights, {clean, batch, positions}, {}, &clean_cache);
  auto hook = [&](const char* name) { return engine::parse_hook_name(name, config); };

  struct Scenario {
    std::string title;
    std::vector<engine::Patch> patches;
    std::string reference_arguments;
    int first_changed_position;  // logits before it must be untouched (causality), at it must move
  };
  const auto z1 = hook("blocks.1.attn.hook_z");
  const auto pattern0 = hook("blocks.0.attn.hook_pattern");
  const auto post0 = hook("blocks.0.mlp.hook_post");
  const auto mid0 = hook("blocks.0.hook_resid_mid");
  const auto result1 = hook("blocks.1.attn.hook_result");
  const auto q1 = hook("blocks.1.attn.hook_q");
  const auto k_input1 = hook("blocks.1.hook_k_input");
  const auto q_input0 = hook("blocks.0.hook_q_input");
  const auto mlp_in0 = hook("blocks.0.hook_mlp_in");
  const std::string corrupt_dir = (dir / "corrupt").string() + "/";
  const std::vector<Scenario> scenarios = {
      {"head 1.2's hook_z at position 4 from the other prompt",
       {{z1, 2, 4, &corrupt_cache.at(z1), 0.0f}},
       "--patch blocks.1.attn.hook_z:2:4:" + corrupt_dir + "blocks.1.attn.hook_z.npy",
       4},
      {"several sites: zeroed pattern of head 0.1, filled MLP activations, residual and result from the other prompt",
       {{pattern0, 1, std::nullopt, nullptr, 0.0f},
        {post0, std::nullopt, 2, nullptr, 0.5f},
        {mid0, std::nullopt, 6, &corrupt_cache.at(mid0), 0.0f},
        {result1, 0, std::nullopt, &corrupt_cache.at(result1), 0.0f},
        {q1, 3, 1, &corrupt_cache.at(q1), 0.0f}},
       "--patch blocks.0.attn.hook_pattern:1:*:0 --patch blocks.0.mlp.hook_post:*:2:0.5 "
       "--patch blocks.0.hook_resid_mid:*:6:" + corrupt_dir + "blocks.0.hook_resid_mid.npy "
       "--patch blocks.1.attn.hook_result:0:*:" + corrupt_dir + "blocks.1.attn.hook_result.npy "
       "--patch blocks.1.attn.hook_q:3:1:" + corrupt_dir + "blocks.1.attn.hook_q.npy",
       0},
      {"a head's own key input and the MLP's own input from the other prompt (the residual stream untouched)",
       {{k_input1, 2, 3, &corrupt_cache.at(k_input1), 0.0f},
        {q_input0, 1, std::nullopt, nullptr, 0.25f},
        {mlp_in0, std::nullopt, 5, &corrupt_cache.at(mlp_in0), 0.0f}},
       "--patch blocks.1.hook_k_input:2:3:" + corrupt_dir + "blocks.1.hook_k_input.npy "
       "--patch blocks.0.hook_q_input:1:*:0.25 "
       "--patch blocks.0.hook_mlp_in:*:5:" + corrupt_dir + "blocks.0.hook_mlp_in.npy",
       1},  // at position 0 a query meets one key: the filled query input changes nothing there
  };
  for (size_t s = 0; s < scenarios.size(); ++s) {
    const Scenario& scenario = scenarios[s];
    DYNAMIC_SECTION("patch scenario " << s << ": " << scenario.title) {
      const fs::path reference_dir = dir / ("patched-" + std::to_string(s));
      test::run_reference(dir / "model", clean_npy, reference_dir, scenario.reference_arguments);

      engine::ActivationPatcher patcher;
      for (const engine::Patch& patch : scenario.patches) patcher.add(patch);
      auto patched_cache = engine::ActivationCache::record_all(config);
      engine::InterventionChain chain;
      chain.add(patcher);
      chain.add(patched_cache);
      const engine::RowMatrix logits = engine::forward(weights, {clean, batch, positions}, {}, &chain);
      check_against_reference(patched_cache, logits, batch, positions, reference_dir, "patched: " + scenario.title);

      // The patch did something, and only from its position on.
      for (int b = 0; b < batch; ++b) {
        for (int p = 0; p < positions; ++p) {
          const int row = b * positions + p;
          const float moved = (logits.row(row) - clean_logits.row(row)).cwiseAbs().maxCoeff();
          INFO("sequence " << b << ", position " << p << ": logits moved by " << moved);
          if (p < scenario.first_changed_position) CHECK(moved == 0.0f);
          if (p == scenario.first_changed_position) CHECK(moved > 1e-2f);
        }
      }
    }
  }
}

TEST_CASE("forward parity: a GPT-2-small-shaped random model", "[io][parity][slow]") {
  const fs::path dir = test::scratch_dir("parity-gpt2-small");
  test::RandomModelOptions options{.layers = 12, .heads = 12, .d_model = 768, .vocab = 50257, .n_ctx = 1024,
      .seed = 12};
  test::make_random_model(dir / "model", options);
  const int batch = 2, positions = 12;
  const auto tokens = random_tokens(batch * positions, options.vocab, 7);
  const std::vector<std::string> names = {"hook_embed",
                                          "blocks.0.ln1.hook_normalized",
                                          "blocks.0.attn.hook_pattern",
                                          "blocks.5.attn.hook_z",
                                          "blocks.6.attn.hook_result",
                                          "blocks.7.mlp.hook_post",
                                          "blocks.11.attn.hook_attn_scores",
                                          "blocks.11.hook_resid_post",
                                          "ln_final.hook_scale"};
  std::string hooks_argument = "--hooks";
  for (const auto& name : names) hooks_argument += " " + name;
  test::run_reference(dir / "model", write_tokens(dir, "tokens.npy", tokens, batch, positions), dir / "reference",
                      hooks_argument);

  engine::Weights weights = io::load_weights(dir / "model");
  std::set<engine::HookPoint> hooks;
  for (const auto& name : names) hooks.insert(engine::parse_hook_name(name, weights.config));
  for (const engine::MatmulKernel kernel : test::matmul_kernels_here()) {
    INFO(engine::to_string(kernel));
    weights.matmul = kernel;
    engine::ActivationCache cache(hooks);
    const engine::RowMatrix logits = engine::forward(weights, {tokens, batch, positions}, {}, &cache);
    CHECK(cache.all().size() == names.size());
    check_against_reference(cache, logits, batch, positions, dir / "reference",
                            "GPT-2-small shape: " + options.describe() + "; batch 2 x 12 tokens, " +
                                std::string(engine::to_string(kernel)));
  }
  fs::remove_all(dir / "model");  // ~500 MB
}
