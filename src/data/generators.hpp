// The dataset generator of each task (declared here, one file each; make_dataset dispatches by name).
#pragma once
#include <cstdint>

#include "cscrub/data/tasks.hpp"

namespace cscrub::data {

Dataset make_ioi_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options);
Dataset make_induction_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options);
Dataset make_pronoun_dataset(int n, uint64_t seed, const io::Tokenizer& tokenizer, const TaskOptions& options);

}  // namespace cscrub::data
