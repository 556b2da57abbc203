"""cscrub.discover(): EAP, EAP-IG, exact patching and ACDC from Python are the graph JSON `cscrub discover --out`
writes, value for value, on a random Pythia-shaped model (parallel blocks, rotary) and on GPT-2; bad arguments raise
cscrub.Error with one line."""
import json

import numpy as np
import pytest

import cscrub
from conftest import BUNDLED_MODEL, make_random_model, read_json, run_cli


def write_pairs(path, vocab, seed):
    generator = np.random.default_rng(seed)
    with open(path, "w") as file:
        for length in (5, 5, 7):
            clean, corrupted = generator.integers(0, vocab, (2, length)).tolist()
            answer, distractor = generator.choice(vocab, 2, replace=False).tolist()
            file.write(json.dumps({"clean": clean, "corrupted": corrupted, "answer": answer,
                                   "distractor": distractor}) + "\n")
    return path


@pytest.mark.parametrize("family, method, metric, settings", [
    ("gpt_neox", "eap-ig", "logit_diff", {"steps": 3}),
    ("gpt2", "eap", "loss", {}),
    ("gpt_neox", "exact", "kl", {}),
    ("gpt2", "acdc", "logit_diff", {"threshold": 0.01}),
])
def test_discover_returns_the_cli_graph_json(tmp_path, family, method, metric, settings):
    model = make_random_model(tmp_path / "model", "--family", family, "--layers", 2, "--heads", 2, "--d-model", 32,
                              "--vocab", 53, "--n-ctx", 16, "--seed", 3)
    pairs = write_pairs(tmp_path / "pairs.jsonl", 53, 4)
    out = tmp_path / "graph.json"
    options = [word for key, value in settings.items() for word in (f"--{key}", value)]
    run_cli("discover", "--model", model, "--pairs", pairs, "--method", method, *options, "--metric", metric,
            "--batch-size", 2, "--quiet", "--out", out)
    stages = []
    graph = cscrub.discover(method, model=str(model), pairs=str(pairs), metric=metric, **settings,
                            progress=lambda stage, done, total: stages.append((stage, done, total)))
    assert graph == read_json(out)
    assert graph["cscrub"]["method"] == method
    assert (method == "acdc") == any(entry["in_graph"] for entry in graph["edges"].values())
    assert graph["cfg"]["parallel_attn_mlp"] == (family == "gpt_neox")
    assert any(entry["score"] != 0 for entry in graph["edges"].values())
    assert stages and stages[-1][1] == stages[-1][2]


def test_discover_on_the_bundled_model_with_generated_pairs(tmp_path):
    out = tmp_path / "ioi.json"
    run_cli("discover", "--method", "eap", "--task", "ioi", "--n", 4, "--seed", 2, "--quiet", "--out", out)
    graph = cscrub.discover("eap", model=cscrub.Model(), task="ioi", n=4, seed=2)
    assert graph == read_json(out)


def test_discover_on_a_dataset_file_is_the_clis_graph_json(tmp_path):
    dataset = tmp_path / "induction.jsonl"
    cscrub.dataset("induction", 40, seed=1).save(str(dataset))
    out = tmp_path / "graph.json"
    run_cli("discover", "--method", "eap", "--dataset", dataset, "--seed", 1, "--quiet", "--out", out)
    graph = cscrub.discover("eap", dataset=dataset, seed=1)
    assert graph == read_json(out)
    assert graph["cscrub"]["command"].endswith(f" --dataset {dataset} --seed 1")
    assert graph["cscrub"]["task"] == "induction" and graph["cscrub"]["pairs"] == 40
    # Paired within their alignment groups with the seed, as the task's generated pairs are.
    assert graph["edges"] == cscrub.discover("eap", task="induction", n=40, seed=1)["edges"]


@pytest.mark.parametrize("arguments, message", [
    (dict(method="eapig"), "did you mean 'eap-ig'"),
    (dict(method="eap-ig", steps=0), "at least 1"),
    (dict(method="eap", metric="logitdiff"), "did you mean 'logit_diff'"),
    (dict(method="eap", colour="red"), "unknown keyword argument 'colour'"),
    (dict(method="eap", pairs="pairs.jsonl", n=3), "not both"),
    (dict(method="eap", pairs="pairs.jsonl", dataset="prompts.jsonl"), "not both"),
    (dict(method="eap", dataset="prompts.jsonl", task="ioi"), "dataset: give a dataset file or task/options, not both"),
    (dict(method="eap", n=0), "--n must be a positive number of prompts"),
    (dict(method="acdc"), "needs --threshold"),
    (dict(method="exact", threshold=0.1), "ACDC's tau"),
    (dict(method="exakt"), "did you mean 'exact'"),
])
def test_bad_arguments_raise_one_line(arguments, message):
    method = arguments.pop("method")
    with pytest.raises(cscrub.Error, match=message.replace("(", r"\(")) as error:
        cscrub.discover(method, model=str(BUNDLED_MODEL), **arguments)
    assert "\n" not in str(error.value)
