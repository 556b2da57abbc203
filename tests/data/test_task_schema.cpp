#include <catch2/catch.hpp>

#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"

using namespace cscrub::data;

TEST_CASE("task schemas name the IOI paper's positions and the features hypotheses use", "[data][schema]") {
  const TaskSchema ioi = task_schema("ioi");
  CHECK(ioi.task == "ioi");
  CHECK(ioi.positions == std::vector<std::string>{"IO", "S1", "S1+1", "S2", "END"});
  for (const char* name : {"io_name", "s_name", "s2_name", "template", "order", "place", "object"})
    CHECK(ioi.feature_index(name).has_value());
  CHECK(ioi.position_index("S2") == 3);
  CHECK_FALSE(ioi.position_index("S3").has_value());
  CHECK_FALSE(ioi.feature_index("io").has_value());
  for (const auto& name : task_names()) {
    const TaskSchema schema = task_schema(name);
    CHECK(schema.task == name);
    CHECK(schema.default_metric == "logit_diff");
    CHECK_FALSE(schema.features.empty());
    CHECK_FALSE(schema.positions.empty());
    CHECK(schema.position_index("END").has_value());
    CHECK_FALSE(task_option_specs(name).empty());
  }
  CHECK(task_schema("induction").position_index("PREV_OCC+1").has_value());
}

TEST_CASE("an unknown task names the closest one", "[data][schema]") {
  try {
    task_schema("iio");
    FAIL("no error");
  } catch (const cscrub::Error& error) {
    CHECK_THAT(error.what(), Catch::Contains("'iio'") && Catch::Contains("did you mean 'ioi'"));
    CHECK_THAT(error.hint(), Catch::Contains("induction"));
  }
  CHECK_THROWS_WITH(task_option_specs("inducton"), Catch::Contains("did you mean 'induction'"));
}
