"""run() and compare() return what the CLI's --json writes, number for number; dataset() the bytes `cscrub dataset`
writes."""
import json

import pytest

import cscrub
from conftest import IOI_HYPOTHESES, read_json, run_cli

SMALL = ["--n", "24", "--seeds", "2", "--seed", "5", "--quiet"]


def same_result(python, cli):
    """The same dict, but for the memory estimate's share of this process's resident size (an interpreter with
    numpy is larger than the cscrub program): the rest of the estimate, and every result, agree exactly."""
    python, cli = json.loads(json.dumps(python)), json.loads(json.dumps(cli))
    for result in (python, cli):
        memory = result["memory"]
        memory.pop("estimated_peak_bytes")
        memory["parts_bytes"].pop("program")
    assert python == cli
    return True


def test_run_is_the_clis_json(model, tmp_path):
    hypothesis = IOI_HYPOTHESES / "ioi.toml"
    run_cli("run", hypothesis, *SMALL, "--json", tmp_path / "run.json", "--matmul", model.matmul)
    result = cscrub.run(hypothesis, n=24, seeds=2, seed=5, matmul=model.matmul)
    assert same_result(result, read_json(tmp_path / "run.json"))
    assert result["hypothesis_file"] == str(hypothesis)
    assert 0.5 < result["recovered"] < 1.5


def test_compare_is_the_clis_json(model, tmp_path):
    files = [IOI_HYPOTHESES / "ioi.toml", IOI_HYPOTHESES / "mlp0_only.toml", "builtin:full"]
    run_cli("compare", *files, *SMALL, "--metric", "kl", "--json", tmp_path / "compare.json", "--matmul",
            model.matmul)
    result = cscrub.compare(files, n=24, seeds=2, seed=5, metric="kl", model=model)
    assert same_result(result, read_json(tmp_path / "compare.json"))
    assert [entry["hypothesis_file"] for entry in result["hypotheses"]] == [str(file) for file in files]


def test_paper_sampling_and_excluded_singletons_are_the_clis(model, tmp_path):
    hypothesis = IOI_HYPOTHESES / "ioi.toml"
    run_cli("run", hypothesis, *SMALL, "--sampling", "paper", "--json", tmp_path / "run.json", "--matmul", model.matmul)
    result = cscrub.run(hypothesis, n=24, seeds=2, seed=5, sampling="paper", model=model)
    assert same_result(result, read_json(tmp_path / "run.json"))
    assert result["sampling"] == "paper" and result["provenance"]["sampling"] == "paper"
    default = cscrub.run(hypothesis, n=24, seeds=2, seed=5, model=model)
    assert default["sampling"] == "cscrub" and default["scrubbed_value"] != result["scrubbed_value"]
    # On these prompts every reference is alone in its class at some node: both refuse to leave none.
    refused = run_cli("run", hypothesis, *SMALL, "--exclude-singletons", check=False)
    assert refused.returncode == 1
    with pytest.raises(cscrub.Error) as raised:
        cscrub.run(hypothesis, n=24, seeds=2, seed=5, exclude_singletons=True, model=model)
    assert "leaves 0 of" in str(raised.value) and str(raised.value) in refused.stderr


def test_test_is_the_clis_json(model, tmp_path):
    claim = IOI_HYPOTHESES / "ioi.toml"
    run_cli("test", claim, "--n", "24", "--seeds", "2", "--seed", "5", "--random", "3", "--margin", "10",
            "--ablations", "resample,zero", "--quiet", "--json", tmp_path / "test.json", "--matmul", model.matmul)
    result = cscrub.test(claim, n=24, seeds=2, seed=5, random=3, margin=10, ablations=["resample", "zero"],
                         model=model)
    cli = read_json(tmp_path / "test.json")
    assert json.loads(json.dumps(result)) == cli
    assert [test["hypothesis_file"] for test in result["tests"]] == [str(claim)]
    assert result["provenance"]["tests"]["margin_points"] == 10
    several = cscrub.test([claim, IOI_HYPOTHESES / "mlp0_only.toml"], n=24, seeds=1, random=0, ablations=["zero"],
                          model=model)
    assert len(several["tests"]) == 2


def test_a_dataset_is_the_clis_bytes_and_runs_like_its_file(model, tmp_path):
    run_cli("dataset", "ioi", "--n", "30", "--seed", "9", "--option", "order=abba", "--out", tmp_path / "cli.jsonl")
    dataset = cscrub.dataset("ioi", 30, 9, options={"order": "abba"})
    assert dataset.to_jsonl() == (tmp_path / "cli.jsonl").read_text()
    assert len(dataset) == 30 and dataset.task == "ioi"
    assert dataset[0] == json.loads((tmp_path / "cli.jsonl").read_text().splitlines()[0])
    assert dataset[-1]["features"]["order"] == "ABBA"
    assert dataset.positions == ["IO", "S1", "S1+1", "S2", "END"]
    assert [example["text"] for example in dataset][:2] == [dataset[0]["text"], dataset[1]["text"]]

    group, members = next(iter(dataset.groups().items()))
    tokens = dataset.tokens(members)
    assert tokens.shape == (len(members), len(dataset[members[0]]["tokens"]))
    assert all(dataset[i]["group"] == group for i in members)

    dataset.save(tmp_path / "saved.jsonl")
    assert (tmp_path / "saved.jsonl").read_bytes() == (tmp_path / "cli.jsonl").read_bytes()
    assert cscrub.read_dataset(tmp_path / "saved.jsonl").to_jsonl() == dataset.to_jsonl()

    hypothesis = IOI_HYPOTHESES / "ioi.toml"
    from_file = cscrub.run(hypothesis, dataset=tmp_path / "saved.jsonl", seeds=1, model=model)
    from_memory = cscrub.run(hypothesis, dataset=dataset, seeds=1, model=model)
    run_cli("run", hypothesis, "--dataset", tmp_path / "saved.jsonl", "--seeds", "1", "--quiet", "--json",
            tmp_path / "run.json", "--matmul", model.matmul)
    assert same_result(from_file, read_json(tmp_path / "run.json"))
    # In memory, the same numbers; only the provenance's file differs: the inputs name the task file the dataset
    # was generated from instead of the dataset's file.
    assert from_memory["provenance"]["dataset"]["file"] == ""
    assert [entry["role"] for entry in from_file["provenance"]["inputs"] if entry["path"].endswith(".jsonl")] == ["dataset"]
    assert any(entry["role"] == "task file" and entry["path"].endswith("ioi_paper_vocabulary.toml")
               for entry in from_memory["provenance"]["inputs"])
    for result in (from_file, from_memory):
        result["provenance"]["dataset"].pop("file")
        result["provenance"]["inputs"] = [entry for entry in result["provenance"]["inputs"]
                                          if entry["role"] not in ("dataset", "task file")]
    assert same_result(from_memory, from_file)


def test_progress_is_reported():
    stages = []
    cscrub.run("builtin:full", n=40, seeds=1, task="ioi", progress=lambda stage, done, total: stages.append(stage))
    assert "clean activations" in stages and "scrubbing" in stages


@pytest.mark.parametrize("call, message", [
    (lambda: cscrub.run("no/such/file.toml", n=8), "no/such/file.toml"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n=8, metric="logit_dif"), "did you mean 'logit_diff'"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", nn=8), "unknown keyword argument 'nn'"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n=0), "n must be at least 1"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n="8"), "give a number"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n=8, max_memory=1e-9), "memory"),
    (lambda: cscrub.compare(str(IOI_HYPOTHESES / "ioi.toml")), "give a list"),
    (lambda: cscrub.compare([]), "no hypotheses"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n=8, sampling="papers"), "papers"),
    (lambda: cscrub.run(IOI_HYPOTHESES / "ioi.toml", n=8, exclude_singletons=1), "True or False"),
    (lambda: cscrub.test(IOI_HYPOTHESES / "ioi.toml", n=8, alpha=0.7), "--alpha must be between 0 and 0.5"),
    (lambda: cscrub.test(IOI_HYPOTHESES / "ioi.toml", n=8, ablations=["meen"]), "meen"),
    (lambda: cscrub.test(IOI_HYPOTHESES / "ioi.toml", n=8, ablations="zero"), "give a list"),
    (lambda: cscrub.test([], n=8), "no hypotheses"),
    (lambda: cscrub.dataset("iio", 5), "did you mean 'ioi'"),
    (lambda: cscrub.dataset("ioi", 0), "positive"),
    (lambda: cscrub.dataset("ioi", 5, options={"order": "sideways"}), "sideways"),
    (lambda: cscrub.read_dataset("no/such/data.jsonl"), "no/such/data.jsonl"),
])
def test_bad_arguments_raise_cscrub_errors(call, message):
    with pytest.raises(cscrub.Error) as raised:
        call()
    assert message in str(raised.value) + " " + raised.value.hint


def test_hand_written_lines_read_and_run(tmp_path):
    lines = [f'{{"text": "Then, {a} and {b} went to the store. {b} gave a drink to", "answer": " {a}", '
             f'"distractor": " {b}"}}' for a, b in [("Mary", "John"), ("John", "Mary"), ("Anna", "Mark")]]
    (tmp_path / "mine.jsonl").write_text("\n".join(lines) + "\n")
    mine = cscrub.read_dataset(tmp_path / "mine.jsonl")
    assert mine.task == "custom" and mine.positions == ["END"] and len(mine) == 3
    assert mine[0]["answer_text"] == " Mary" and mine[0]["positions"]["END"] == len(mine[0]["tokens"]) - 1
    result = cscrub.run("builtin:full", dataset=mine, seeds=1)
    # builtin:full reproduces the model; % recovered itself is undefined (null) on 3 prompts, whose model and
    # baseline values do not differ significantly.
    assert result["n"] == 3 and result["scrubbed_value"] == result["model_value"]
    (tmp_path / "bad.jsonl").write_text('{"text": "a"}\n{"text": "b", "answer": " c"}\n')
    with pytest.raises(cscrub.Error, match="bad.jsonl:1: missing 'answer', 'distractor'; .*bad.jsonl:2: missing 'distractor'"):
        cscrub.read_dataset(tmp_path / "bad.jsonl")
