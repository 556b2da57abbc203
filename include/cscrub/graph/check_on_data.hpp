// What can only be checked on the prompts themselves: a position label names a different token in
// different prompts, and an index counts from the end (-1) or may fall outside a short prompt, so whether
// two claims meet, or whether an edge reaches its child at all, depends on the dataset. Run before scrubbing;
// docs/hypothesis-format.md ("Checked on the data") gives the rules.
#pragma once
#include <vector>

#include "cscrub/data/dataset.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/hypothesis.hpp"

namespace cscrub::graph {

// The token indices where node `node_index` is claimed in `example`, sorted and distinct: its positions
// resolved (labels through the example's positions, negative indices from its end), every position when it
// lists none. The output is read at the answer position only, so that is the output's one position.
// Throws cscrub::Error for a label the dataset's task lacks or an index outside the prompt (find_problems_on_data
// reports those first).
std::vector<int> resolved_positions(const Hypothesis& hypothesis, int node_index, const data::Dataset& dataset,
                                    const data::Example& example);

// Every problem of `hypothesis` on `dataset` (each at the file and line of the claim concerned), over all its
// prompts:
// - a position index outside a prompt;
// - [output] positions other than the answer position (the metric reads the output there only);
// - one component claimed by two nodes at a common token of some prompt (the correspondence must be
//   injective): the count of such prompts and the first one;
// - an edge that reaches no position of its child in some prompt: through q or in, the parent's and the
//   child's positions share no token; through k or v, every parent position comes after every child position
//   (a query only reads keys and values at or before itself). An edge listing ports must reach through each;
//   an edge listing none through at least one of the child's ports.
std::vector<Problem> find_problems_on_data(const Hypothesis& hypothesis, const data::Dataset& dataset);

// Throws cscrub::Error with the first problem (and how many more there are), if any.
void validate_on_data(const Hypothesis& hypothesis, const data::Dataset& dataset);

}  // namespace cscrub::graph
