#include <catch2/catch.hpp>

#include <algorithm>

#include "cscrub/engine/hooks.hpp"
#include "cscrub/error.hpp"
#include "random_weights.hpp"

using namespace cscrub::engine;

TEST_CASE("every hook name round-trips through parse_hook_name", "[hooks]") {
  // GPT-2 (22 per-layer sites, 4 global ones) and a rotary model (also hook_rot_q and hook_rot_k, no hook_pos_embed).
  const auto [config, expected] = GENERATE(table<ModelConfig, int>(
      {{cscrub::test::small_config(), 22 * 3 + 4}, {cscrub::test::small_gpt_neox_config(), 24 * 3 + 3}}));
  int count = 0;
  for (const SiteInfo& info : sites()) {
    if (!has_site(config, info.site)) continue;
    for (int layer = info.per_layer ? 0 : -1; layer < (info.per_layer ? config.n_layer : 0); ++layer) {
      const HookPoint hook{info.site, layer};
      const std::string name = hook_name(hook);
      CHECK(parse_hook_name(name, config) == hook);
      ++count;
    }
  }
  CHECK(count == expected);
  CHECK(hook_name({Site::attn_z, 9}) == "blocks.9.attn.hook_z");
  CHECK(hook_name({Site::attn_rot_q, 2}) == "blocks.2.attn.hook_rot_q");
  CHECK(hook_name({Site::embed, -1}) == "hook_embed");
  CHECK(hook_name({Site::k_input, 2}) == "blocks.2.hook_k_input");
  CHECK(hook_name({Site::mlp_in, 0}) == "blocks.0.hook_mlp_in");
}

TEST_CASE("bad hook names are rejected with the closest valid name", "[hooks]") {
  const ModelConfig config = cscrub::test::small_config();
  auto message = [&](const std::string& name) {
    try {
      parse_hook_name(name, config);
    } catch (const cscrub::Error& error) {
      return std::string(error.what());
    }
    return std::string("accepted");
  };
  CHECK_THAT(message("blocks.3.attn.hook_z"), Catch::Contains("layer 3 does not exist"));
  CHECK_THAT(message("blocks.1.attn.hook_zz"), Catch::Contains("no such site"));
  CHECK_THAT(message("blocks.x.hook_resid_pre"), Catch::Contains("not a number"));
  CHECK_THAT(message("hook_embd"), Catch::Contains("did you mean 'hook_embed'"));
  CHECK_THAT(message("blocks.1.attn.hook_rot_q"), Catch::Contains("this model has no rotary embedding"));
  const ModelConfig rotary = cscrub::test::small_gpt_neox_config();
  try {
    parse_hook_name("hook_pos_embed", rotary);
    FAIL("hook_pos_embed accepted for a rotary model");
  } catch (const cscrub::Error& error) {
    CHECK_THAT(error.what(), Catch::Contains("this model has no position embedding (its positions are rotary)"));
  }
}

TEST_CASE("activation shapes follow TransformerLens", "[hooks]") {
  ModelConfig config = cscrub::test::small_config();
  int rank = 0;
  CHECK(activation_shape(Site::attn_z, config, 2, 5, &rank) == std::array<int64_t, 4>{2, 5, 4, 16});
  CHECK(rank == 4);
  CHECK(activation_shape(Site::attn_pattern, config, 2, 5, &rank) == std::array<int64_t, 4>{2, 4, 5, 5});
  CHECK(activation_shape(Site::mlp_post, config, 2, 5, &rank) == std::array<int64_t, 4>{2, 5, 256, 0});
  CHECK(rank == 3);
  CHECK(activation_shape(Site::ln1_scale, config, 2, 5, &rank) == std::array<int64_t, 4>{2, 5, 1, 0});
  CHECK(activation_shape(Site::v_input, config, 2, 5, &rank) == std::array<int64_t, 4>{2, 5, 4, 64});
  CHECK(rank == 4);
}

TEST_CASE("an attention-only model has no MLP hidden units to hook", "[hooks]") {
  ModelConfig config = cscrub::test::small_config();
  config.d_mlp = 0;
  CHECK(parse_hook_name("blocks.1.hook_mlp_out", config) == HookPoint{Site::mlp_out, 1});
  for (const char* name : {"blocks.1.mlp.hook_pre", "blocks.0.mlp.hook_post"}) {
    INFO(name);
    CHECK_THROWS_WITH(parse_hook_name(name, config),
                      Catch::Contains(name) && Catch::Contains("attention-only (n_inner = 0)"));
  }
  // Listing follows the same rule: the same model with MLPs lists two more sites per layer (mlp.hook_pre, hook_post).
  const std::vector<HookPoint> all = all_hook_points(config);
  ModelConfig with_mlp = config;
  with_mlp.d_mlp = 4 * config.d_model;
  CHECK(all.size() + static_cast<size_t>(2 * config.n_layer) == all_hook_points(with_mlp).size());
  CHECK(std::none_of(all.begin(), all.end(), [](HookPoint hook) { return hook.site == Site::mlp_pre || hook.site == Site::mlp_post; }));
  CHECK(std::count(all.begin(), all.end(), HookPoint{Site::mlp_out, 1}) == 1);
}
