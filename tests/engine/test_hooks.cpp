#include <catch2/catch.hpp>

#include "cscrub/engine/hooks.hpp"
#include "cscrub/error.hpp"
#include "random_weights.hpp"

using namespace cscrub::engine;

TEST_CASE("every hook name round-trips through parse_hook_name", "[hooks]") {
  const ModelConfig config = cscrub::test::small_config();
  int count = 0;
  for (const SiteInfo& info : sites()) {
    for (int layer = info.per_layer ? 0 : -1; layer < (info.per_layer ? config.n_layer : 0); ++layer) {
      const HookPoint hook{info.site, layer};
      const std::string name = hook_name(hook);
      CHECK(parse_hook_name(name, config) == hook);
      ++count;
    }
  }
  CHECK(count == 18 * 3 + 4);  // 18 per-layer sites x 3 layers, 4 global ones
  CHECK(hook_name({Site::attn_z, 9}) == "blocks.9.attn.hook_z");
  CHECK(hook_name({Site::embed, -1}) == "hook_embed");
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
}
