// The model organisms, measured with cscrub's engine on cscrub's own datasets: each behaviour their model
// cards claim, and the attention of every head their shipped hypotheses name, on the positions its class
// claims. The numbers printed are the ones the model cards quote.
#include <algorithm>
#include <catch2/catch.hpp>
#include <iomanip>
#include <iostream>
#include <set>

#include "cscrub/data/tasks.hpp"
#include "cscrub/discover/pairs.hpp"
#include "cscrub/discover/path_patching.hpp"
#include "cscrub/graph/check.hpp"
#include "cscrub/graph/component_id.hpp"
#include "cscrub/graph/hypothesis_file.hpp"
#include "cscrub/io/tokenizer.hpp"
#include "cscrub/scrub/experiment.hpp"
#include "organism_measures.hpp"

using namespace cscrub;
using namespace cscrub::test;

namespace {

const char* const kInduction = "attn-only-2l-induction";
const char* const kIoi = "attn-only-4l-ioi";

const io::Tokenizer& tokenizer() {
  static const io::Tokenizer loaded = io::Tokenizer::load(bundled_model_dir());
  return loaded;
}

int position(const data::Dataset& dataset, const data::Example& example, const std::string& label) {
  return example.positions.at(static_cast<size_t>(dataset.schema.position_index(label).value()));
}

// Sequences of 20 words of `pool` (a task file), repeated once: the repeat's loss over the first copy's.
double repeat_loss_ratio(const std::string& organism, const std::filesystem::path& pool, const std::string& what) {
  const int length = 20;
  const auto dataset = data::make_dataset(
      "induction", 200, 20221201, tokenizer(),
      {{"length", std::to_string(length)}, {"repeat", std::to_string(length - 1)}, {"vocabulary", pool.string()}});
  const HalfLosses losses = repeated_sequence_losses(organism_weights(organism), dataset);
  const MeanAndError first = mean_and_error(losses.first), repeated = mean_and_error(losses.repeated);
  const double ratio = repeated.mean / first.mean;
  std::cout << std::fixed << std::setprecision(3) << organism << ", induction on " << what << " ("
            << pool.filename().string() << "), 200 sequences of " << length << " words repeated once: loss first copy "
            << first.mean << " +- " << first.standard_error << ", repeat " << repeated.mean << " +- "
            << repeated.standard_error << ", ratio " << ratio << "\n";
  return ratio;
}

// Where each class of head is claimed to attend: (query, key) position labels of the task, and the range its
// mean attention must fall in.
struct ClaimedAttention {
  std::string node_class, query, key;
  double at_least, at_most = 1.0;
};

// logit(answer) > logit(distractor): the share of the examples.
double accuracy(const std::vector<double>& differences) {
  const auto correct = std::count_if(differences.begin(), differences.end(), [](double d) { return d > 0; });
  return static_cast<double>(correct) / static_cast<double>(differences.size());
}

// For every head of `hypothesis` whose node class is listed, its mean attention from the class' query
// position to its key position over `dataset`; checks the class' range.
void check_claimed_attention(const std::string& organism, const std::filesystem::path& hypothesis_file,
                             const data::Dataset& dataset, const std::vector<ClaimedAttention>& claims) {
  const graph::Hypothesis hypothesis = graph::read_hypothesis_file(hypothesis_file);
  int checked = 0;
  for (const auto& claim : claims) {
    for (const auto& node : hypothesis.nodes) {
      if (node.node_class != claim.node_class) continue;
      for (const auto& component : node.components) {
        if (component.kind != graph::Component::Kind::head) continue;
        const double attention =
            mean_attention(organism_weights(organism), dataset, component.layer, component.head,
                           [&](const data::Example& example) {
                             return std::pair{position(dataset, example, claim.query),
                                              position(dataset, example, claim.key)};
                           });
        std::cout << std::fixed << std::setprecision(3) << organism << ": " << claim.node_class << " head "
                  << component.layer << "." << component.head << " attends " << claim.query << " -> " << claim.key
                  << ": " << attention << " (mean of " << dataset.examples.size() << " prompts)\n";
        INFO(claim.node_class << " head " << component.layer << "." << component.head);
        CHECK(attention >= claim.at_least);
        CHECK(attention <= claim.at_most);
        ++checked;
      }
    }
  }
  CHECK(checked > 0);
}

}  // namespace

TEST_CASE("induction organism: repeated words are predicted, whether trained to repeat, held out or known only "
          "from other contexts",
          "[scrub][organisms][induction]") {
  const auto dir = organism_dir(kInduction);
  // Full-vocabulary losses, so a first copy costs about log(50,257) = 10.8 nats a token: the organism knows no
  // token statistics (its embeddings are fixed random vectors), only how to copy.
  CHECK(repeat_loss_ratio(kInduction, dir / "induction_trained.toml", "words trained to repeat") <= 0.05);
  CHECK(repeat_loss_ratio(kInduction, dir / "induction_held_out.toml", "held-out words (never in training)") <=
        0.05);
  CHECK(repeat_loss_ratio(kInduction, dir / "induction_context_only.toml",
                          "words known only from other contexts (never repeated in training)") <= 0.05);
  CHECK(repeat_loss_ratio(kInduction, source_dir() / "datasets" / "induction.toml", "cscrub's default words") <=
        0.05);
}

TEST_CASE("induction organism: its previous-token head and induction heads attend where the hypotheses say",
          "[scrub][organisms][induction]") {
  for (const char* pool : {"induction_held_out.toml", "induction_context_only.toml"}) {
    const auto dataset = data::make_dataset("induction", 300, 20221202, tokenizer(),
                                            {{"vocabulary", (organism_dir(kInduction) / pool).string()}});
    std::cout << "words of " << pool << ":\n";
    check_claimed_attention(
        kInduction, source_dir() / "hypotheses" / kInduction / "induction" / "naive.toml", dataset,
        {{"previous token", "PREV_OCC+1", "PREV_OCC", 0.8}, {"induction", "END", "PREV_OCC+1", 0.75}});
  }
}

TEST_CASE("induction organism: the causal-scrubbing paper's naive and refined hypotheses recover most of the loss",
          "[scrub][organisms][induction]") {
  // What `cscrub run hypotheses/attn-only-2l-induction/induction/{naive,refined}.toml` computes (200 prompts,
  // seed 0, 5 scrubbing seeds, metric loss, baseline builtin:none); the model card quotes these numbers.
  const engine::Weights& weights = organism_weights(kInduction);
  const auto dataset = data::make_dataset("induction", 200, 0, tokenizer());
  const auto dir = source_dir() / "hypotheses" / kInduction / "induction";
  scrub::ExperimentSettings settings;
  settings.metric = scrub::Metric::loss;
  const auto result = scrub::run_experiment(
      weights, dataset,
      {graph::load_hypothesis((dir / "naive.toml").string(), weights.config),
       graph::load_hypothesis((dir / "refined.toml").string(), weights.config)},
      graph::load_hypothesis("builtin:none", weights.config, "induction"), settings);
  for (const auto& score : result.hypotheses)
    std::cout << std::fixed << std::setprecision(3) << kInduction << ", " << score.name << ": loss recovered "
              << score.recovered.value << " [" << score.recovered.low << ", " << score.recovered.high << "]\n";
  // The paper's 35% (naive) and 86-89% (refined) were on OpenWebText; this organism knows only induction.
  CHECK(result.hypotheses[0].recovered.value >= 0.85);
  CHECK(result.hypotheses[1].recovered.value >= 0.85);
}

TEST_CASE("IOI organism: the paper's templates, never seen in training, are solved", "[scrub][organisms][ioi]") {
  // 600 prompts of the paper's 15 templates, BABA and ABBA mixed, 99 names; the training grammar excludes
  // these templates verbatim.
  const auto dataset = data::make_dataset("ioi", 600, 20221203, tokenizer());
  const std::vector<double> differences = logit_differences(organism_weights(kIoi), dataset);
  const double share = accuracy(differences);
  const MeanAndError difference = mean_and_error(differences);
  std::cout << std::fixed << std::setprecision(3) << kIoi << ", IOI on the paper's templates (600 prompts): "
            << "logit(IO) > logit(S) " << share << ", mean logit difference " << difference.mean << " +- "
            << difference.standard_error << "\n";
  CHECK(share >= 0.95);
  CHECK(difference.mean >= 5.0);
}

TEST_CASE(
    "IOI organism: its name movers, S-inhibition head, duplicate-token and current-token heads attend where "
    "the hypothesis says",
    "[scrub][organisms][ioi]") {
  const auto dataset = data::make_dataset("ioi", 300, 20221204, tokenizer());
  check_claimed_attention(kIoi, source_dir() / "hypotheses" / kIoi / "ioi.toml", dataset,
                          {{"name mover", "END", "IO", 0.5},
                           {"S-inhibition", "END", "S2", 0.8},
                           {"duplicate token", "S2", "S1", 0.3},
                           {"current token", "S2", "S2", 0.9}});
}

TEST_CASE("IOI organism: path patching finds each edge of the hypothesis as the strongest path into its receivers",
          "[scrub][organisms][ioi]") {
  // What the model card's path-patching table computes (`cscrub patch --kind path --n 200 --seed 0
  // [--receivers ...]`, p_ABC corruptions): for every edge between heads that ioi.toml claims, the parent's
  // heads are the senders with the strongest effect through the child's ports; into the logits, the output's
  // parents are the strongest senders.
  const engine::Weights& weights = organism_weights(kIoi);
  const graph::Hypothesis hypothesis = graph::read_hypothesis_file(source_dir() / "hypotheses" / kIoi / "ioi.toml");
  const discover::PairedDataset pairs = discover::make_paired_dataset("ioi", 200, 0, tokenizer());
  const auto heads_of = [&](int node) {
    std::set<std::pair<int, int>> heads;
    for (const auto& component : hypothesis.nodes[static_cast<size_t>(node)].components)
      if (component.kind == graph::Component::Kind::head) heads.emplace(component.layer, component.head);
    return heads;
  };
  // Parent heads -> receivers (empty: the logits).
  std::vector<std::pair<std::set<std::pair<int, int>>, std::vector<discover::Receiver>>> claims;
  std::set<std::pair<int, int>> into_logits;
  for (const auto& edge : hypothesis.edges) {
    if (edge.child == hypothesis.output_node) {
      for (const auto& head : heads_of(edge.parent)) into_logits.insert(head);
      continue;
    }
    std::string receivers;  // `cscrub patch --receivers`' syntax: "2.3:k,..."
    for (const auto& component : hypothesis.nodes[static_cast<size_t>(edge.child)].components)
      for (const graph::Port port : graph::ports_fed(edge, component))
        receivers += (receivers.empty() ? "" : ",") + graph::to_string(component) + ":" + graph::to_string(port);
    claims.emplace_back(heads_of(edge.parent), discover::parse_receivers(receivers, weights.config));
  }
  claims.emplace_back(into_logits, std::vector<discover::Receiver>{});
  REQUIRE(claims.size() >= 4);
  for (const auto& [senders, receivers] : claims) {
    const discover::Grid effects =
        discover::path_patching(weights, pairs, {.receivers = receivers, .position = ""}, 64).normalized();
    const auto strongest = discover::strongest_cells(effects, static_cast<int>(senders.size()));
    std::cout << kIoi << ", path patching into " << discover::describe(receivers) << ":";
    for (const auto& cell : strongest)
      std::cout << " " << cell.row << "." << cell.column << " " << std::fixed << std::setprecision(3) << cell.value;
    std::cout << "\n";
    INFO("receivers " << discover::describe(receivers));
    for (const auto& cell : strongest) {
      INFO("sender " << cell.row << "." << cell.column << ": " << cell.value);
      CHECK(senders.contains({cell.row, cell.column}));
      CHECK(cell.value <= -0.03);  // patching in the corrupted sender moves the logit difference towards p_ABC's
    }
  }
}

TEST_CASE("IOI organism: scrubbing recovers the logit difference, and resampling each claimed head loses some",
          "[scrub][organisms][ioi]") {
  // What the model card's table computes (`cscrub compare hypotheses/attn-only-4l-ioi/*.toml --n 600 --option
  // vocabulary=models/attn-only-4l-ioi/ioi_eight_names.toml`, seed 0, 5 scrubbing seeds): 8 names, so that a
  // node claimed to compute s_name has other prompts of its group to be resampled from.
  const engine::Weights& weights = organism_weights(kIoi);
  const auto dataset = data::make_dataset("ioi", 600, 0, tokenizer(),
                                          {{"vocabulary", (organism_dir(kIoi) / "ioi_eight_names.toml").string()}});
  const auto dir = source_dir() / "hypotheses" / kIoi;
  std::vector<graph::Hypothesis> hypotheses;
  for (const char* file : {"ioi.toml", "no_s_inhibition.toml", "no_s2_token.toml", "no_duplicate_token.toml"})
    hypotheses.push_back(graph::load_hypothesis((dir / file).string(), weights.config));
  const auto result =
      scrub::run_experiment(weights, dataset, hypotheses, graph::load_hypothesis("builtin:none", weights.config, "ioi"),
                            scrub::ExperimentSettings{});
  for (const auto& score : result.hypotheses)
    std::cout << std::fixed << std::setprecision(3) << kIoi << ", " << score.name << ": logit difference recovered "
              << score.recovered.value << " [" << score.recovered.low << ", " << score.recovered.high
              << "], minus the claim's " << score.difference_to_first.value << " [" << score.difference_to_first.low
              << ", " << score.difference_to_first.high << "]\n";
  CHECK(result.hypotheses[0].recovered.low >= 0.95);  // the claim
  CHECK(result.hypotheses[1].recovered.high <= 0.4);  // S-inhibition resampled
  CHECK(result.hypotheses[2].recovered.high <= 0.6);  // the S name at S2 resampled
  // The duplicate-token head resampled: every IOI prompt's S2 is a repeat, so a resampled 0.0 still flags one
  // there; what is lost is what its output says about this prompt's name (path patching measures its role).
  CHECK(result.hypotheses[3].difference_to_first.high < 0);
}
