#include "cscrub/app/attribution.hpp"

#include "cscrub/app/grid_results.hpp"
#include "cscrub/app/model_choice.hpp"

namespace cscrub::app {

void check_attribution_options(const AttributionOptions& options) {
  check_prompt_choice(options.prompts);
  check_batch_size(options.batch_size);
  check_top(options.top);
}

std::string AttributionRun::meaning() const {
  return "direct logit attribution: each head's output at the last position through ln_f (its scale frozen at the "
         "clean value) dotted with W_U[answer] \u2212 W_U[distractor], mean over the prompts, in units of " +
         metric;
}

AttributionRun run_attribution(const AttributionOptions& options, const StagedProgress& progress) {
  check_attribution_options(options);
  const LoadedModel model = load_model_and_tokenizer(options.model, options.matmul);
  const data::Dataset dataset = load_prompts(options.prompts, model.tokenizer(), model.weights.config);
  AttributionRun run;
  run.model_dir = options.model;
  run.config = model.weights.config;
  run.metric = metric_name(dataset.schema.task);
  run.top = options.top;
  run.attribution = discover::direct_logit_attribution(model.weights, dataset, options.batch_size,
                                                       progress_of_stage(progress, "attributing"));
  run.prompts = describe_prompt_pairs(options.prompts, static_cast<size_t>(run.attribution.prompts));
  require_finite_metric(run.attribution.logit_diff, "mean " + run.metric);
  return run;
}

nlohmann::ordered_json attribution_json(const AttributionRun& run) {
  const discover::Attribution& attribution = run.attribution;
  nlohmann::ordered_json ranking = nlohmann::ordered_json::array();
  for (const discover::Cell& cell : discover::strongest_cells(attribution.heads, run.top))
    ranking.push_back({{"head", cell_name(attribution.heads, cell.row, cell.column)}, {"direct", cell.value}});
  return {{"command", "attribute"},
          {"model", run.model_dir},
          {"prompts", run.prompts},
          {"n", attribution.prompts},
          {"metric", run.metric},
          {"meaning", run.meaning()},
          {"logit_diff", attribution.logit_diff},
          {"heads", grid_json(attribution.heads)},
          {"mlps", attribution.mlps},
          {"attention_biases", attribution.attention_biases},
          {"token_embedding", attribution.token_embedding},
          {"position_embedding", attribution.position_embedding},
          {"final_bias", attribution.final_bias},
          {"sum_of_parts", attribution.sum_of_parts()},
          {"strongest", ranking}};
}

}  // namespace cscrub::app
