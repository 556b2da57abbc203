// The model organisms, measured with cscrub's engine on cscrub's own datasets: each behaviour their model
// cards claim, and the attention of every head their shipped hypotheses name, on the positions its class
// claims. The numbers printed are the ones the model cards quote.
#include <algorithm>
#include <catch2/catch.hpp>
#include <iomanip>
#include <iostream>

#include "cscrub/data/jsonl.hpp"
#include "cscrub/data/tasks.hpp"
#include "cscrub/graph/check.hpp"
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

TEST_CASE("IOI organism: its name movers, S-inhibition heads and current-token head attend where the hypothesis "
          "says",
          "[scrub][organisms][ioi]") {
  const auto dataset = data::make_dataset("ioi", 300, 20221204, tokenizer());
  check_claimed_attention(kIoi, source_dir() / "hypotheses" / kIoi / "ioi.toml", dataset,
                          {{"name mover", "END", "IO", 0.5},
                           {"S-inhibition", "END", "S2", 0.3},
                           {"current token", "S2", "S2", 0.9}});
}

TEST_CASE("IOI organism: on scrambled sentences whose last name is IO, it still answers IO, its S-inhibition "
          "heads attending evenly to the three names",
          "[scrub][organisms][ioi]") {
  // The model card's "How it tells S from IO": training-grammar sentences with their words shuffled and the names
  // in the order S, S, IO (tools/scrambled_ioi.py --model models/attn-only-4l-ioi --n 160 --seed 12 --dataset-out
  // models/attn-only-4l-ioi/scrambled_ssi.jsonl), where the most recent name is IO: only a name's being repeated
  // tells S from IO, and the S-inhibition heads find it by summing the names at END, not by looking for S2 (on
  // the paper's templates 2.1 attends END -> S2 0.47, beyond this test's range).
  const data::Dataset dataset = data::read_jsonl(organism_dir(kIoi) / "scrambled_ssi.jsonl", &tokenizer());
  const std::vector<double> differences = logit_differences(organism_weights(kIoi), dataset);
  std::cout << std::fixed << std::setprecision(3) << kIoi << ", " << differences.size()
            << " scrambled sentences, names S S IO: logit(IO) > logit(S) " << accuracy(differences)
            << ", mean logit difference " << mean_and_error(differences).mean << "\n";
  CHECK(differences.size() >= 100);
  CHECK(accuracy(differences) >= 0.9);
  check_claimed_attention(kIoi, source_dir() / "hypotheses" / kIoi / "ioi.toml", dataset,
                          {{"S-inhibition", "END", "IO", 0.15, 0.45},
                           {"S-inhibition", "END", "S1", 0.15, 0.45},
                           {"S-inhibition", "END", "S2", 0.15, 0.45},
                           {"name mover", "END", "IO", 0.3}});
}

TEST_CASE("IOI organism: scrubbing recovers most of the logit difference, and resampling the S-inhibition heads "
          "loses it",
          "[scrub][organisms][ioi]") {
  // What the model card's table computes (`cscrub compare hypotheses/attn-only-4l-ioi/*.toml --n 600 --option
  // vocabulary=models/attn-only-4l-ioi/ioi_eight_names.toml`, seed 0, 5 scrubbing seeds): 8 names, so that a
  // node claimed to compute s_name has other prompts of its group to be resampled from.
  const engine::Weights& weights = organism_weights(kIoi);
  const auto dataset = data::make_dataset("ioi", 600, 0, tokenizer(),
                                          {{"vocabulary", (organism_dir(kIoi) / "ioi_eight_names.toml").string()}});
  const auto dir = source_dir() / "hypotheses" / kIoi;
  const auto result =
      scrub::run_experiment(weights, dataset,
                            {graph::load_hypothesis((dir / "ioi.toml").string(), weights.config),
                             graph::load_hypothesis((dir / "no_s_inhibition.toml").string(), weights.config),
                             graph::load_hypothesis((dir / "no_s2_token.toml").string(), weights.config)},
                            graph::load_hypothesis("builtin:none", weights.config, "ioi"), scrub::ExperimentSettings{});
  for (const auto& score : result.hypotheses)
    std::cout << std::fixed << std::setprecision(3) << kIoi << ", " << score.name << ": logit difference recovered "
              << score.recovered.value << " [" << score.recovered.low << ", " << score.recovered.high << "]\n";
  CHECK(result.hypotheses[0].recovered.low >= 0.85);   // the claim
  CHECK(result.hypotheses[1].recovered.high <= 0.2);   // S-inhibition resampled
  CHECK(result.hypotheses[2].recovered.high <= 0.7);   // the S name at S2 resampled
}
