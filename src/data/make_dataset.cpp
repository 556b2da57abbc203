// make_dataset: checks the request and hands it to the task's generator.
#include "cscrub/data/checks.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/error.hpp"
#include "generators.hpp"

namespace cscrub::data {

Dataset make_dataset(std::string_view task, int n, uint64_t seed, const io::Tokenizer& tokenizer,
                     const TaskOptions& options) {
  task_schema(task);  // throws for an unknown task, naming the closest one
  if (n <= 0) throw Error("a dataset needs at least one example (asked for " + std::to_string(n) + ")");
  Dataset dataset = task == "ioi"         ? make_ioi_dataset(n, seed, tokenizer, options)
                    : task == "induction" ? make_induction_dataset(n, seed, tokenizer, options)
                                          : make_pronoun_dataset(n, seed, tokenizer, options);
  // Whatever a task file held, a generated dataset passes the checks a saved one must pass.
  check_consistency(dataset, "the generated '" + std::string(task) + "' dataset");
  return dataset;
}

}  // namespace cscrub::data
