// What each task offers hypotheses. Every name listed here is filled in for every example the task
// generates (tests/data check it); datasets/README.md explains each one.
#include "task_schemas.hpp"

namespace cscrub::data {

TaskSchema ioi_schema() {
  return {
      .task = "ioi",
      // s_name is the name at S1; s2_name the name at S2 (the same name, except in the p_ABC distribution).
      .features = {"io_name", "s_name", "s2_name", "template", "order", "place", "object"},
      .positions = {"IO", "S1", "S1+1", "S2", "END"},
      .default_metric = "logit_diff",
      .description =
          "indirect object identification (Wang et al. 2022): 'When Mary and John went to the store, "
          "John gave a drink to' -> ' Mary' (answer, IO) vs ' John' (distractor, S)",
  };
}

TaskSchema induction_schema() {
  return {
      .task = "induction",
      .features = {"answer", "end_token", "prev_token", "sequence"},
      // PREV_OCC: the earlier occurrence of the END token; PREV_OCC+1: the token after it, whose value is the
      // answer; REPEAT_START: the first token of the repeat.
      .positions = {"PREV_OCC", "PREV_OCC+1", "REPEAT_START", "END"},
      .default_metric = "logit_diff",
      .description =
          "induction: a random sequence of common words, repeated; the prompt stops inside the repeat and "
          "the answer is the word that came next the first time (distractor: another word of the sequence)",
  };
}

TaskSchema pronoun_schema() {
  return {
      .task = "pronoun",
      .features = {"name", "gender", "template"},
      .positions = {"NAME", "NAME+1", "END"},
      .default_metric = "logit_diff",
      .description =
          "gendered pronouns: 'So Mary is a really great friend, isn't' -> ' she' (answer) vs ' he' "
          "(distractor), the pronoun that agrees with the name's usual gender",
  };
}

std::vector<TaskOptionSpec> ioi_options() {
  return {{"order", "baba|abba|mixed", "mixed"},
          {"distribution", "ioi|abc", "ioi"},
          {"templates", "paper|long|late_ios|early_ios", "paper"},
          {"vocabulary", "FILE (laid out like datasets/ioi_paper_vocabulary.toml)", ""}};
}

std::vector<TaskOptionSpec> induction_options() {
  return {{"length", "N (2 to the number of pool words)", "10"},
          {"repeat", "K (1 to length-1) | random", "random"},
          {"vocabulary", "FILE (laid out like datasets/induction.toml)", ""}};
}

std::vector<TaskOptionSpec> pronoun_options() {
  return {{"vocabulary", "FILE (laid out like datasets/pronoun.toml)", ""}};
}

}  // namespace cscrub::data
