"""cscrub.attribute(): direct logit attribution from Python is the JSON `cscrub attribute --json` writes, number for
number, on the IOI organism (models/attn-only-4l-ioi); bad options raise cscrub.Error with the CLI's message."""
import re

import pytest

import cscrub
from conftest import SOURCE_DIR, read_json, run_cli

N = 24


@pytest.fixture(scope="module")
def ioi_model():
    """The IOI organism (tools/setup.sh fetches its tokenizer files)."""
    return SOURCE_DIR / "models" / "attn-only-4l-ioi"


@pytest.mark.parametrize("arguments, flags", [
    ({}, []),
    (dict(seed=2, top=3, batch_size=7), ["--seed", 2, "--top", 3, "--batch-size", 7]),
    (dict(options={"order": "abba"}, top=0), ["--option", "order=abba", "--top", 0]),
])
def test_attribute_returns_the_cli_json(ioi_model, tmp_path, arguments, flags):
    out = tmp_path / "attribute.json"
    run_cli("attribute", "--model", ioi_model, "--n", N, *flags, "--quiet", "--json", out)
    stages = []
    result = cscrub.attribute(model=str(ioi_model), n=N, **arguments,
                              progress=lambda stage, done, total: stages.append((stage, done, total)))
    assert result == read_json(out)
    assert result["command"] == "attribute" and result["n"] == N
    assert result["model"] == str(ioi_model)
    assert len(result["strongest"]) == arguments.get("top", 10)
    # The parts sum to the model's logit difference (the CLI's own check of itself).
    assert result["sum_of_parts"] == pytest.approx(result["logit_diff"], abs=1e-3)
    assert stages and stages[-1] == ("attributing", stages[-1][2], stages[-1][2])


def test_attribute_takes_a_model_object_and_a_dataset_file(ioi_model, tmp_path):
    model = cscrub.Model(str(ioi_model))
    dataset = tmp_path / "prompts.jsonl"
    cscrub.dataset("ioi", 16, seed=5, model=model).save(str(dataset))
    out = tmp_path / "attribute.json"
    run_cli("attribute", "--model", ioi_model, "--dataset", dataset, "--n", 10, "--quiet", "--json", out)
    result = cscrub.attribute(model=model, dataset=str(dataset), n=10)
    assert result == read_json(out)
    assert result["prompts"] == f"10 prompts of {dataset}"


@pytest.mark.parametrize("arguments, flags", [
    (dict(task="bogus"), ["--task", "bogus"]),
    (dict(options={"bogus": "1"}), ["--option", "bogus=1"]),
    (dict(dataset="no/such/file.jsonl"), ["--dataset", "no/such/file.jsonl"]),
])
def test_bad_options_raise_the_cli_message(ioi_model, arguments, flags):
    cli = run_cli("attribute", "--model", ioi_model, "--n", N, *flags, "--quiet", check=False)
    assert cli.returncode != 0
    with pytest.raises(cscrub.Error) as error:
        cscrub.attribute(model=str(ioi_model), n=N, **arguments)
    message = str(error.value)
    assert message and "\n" not in message
    assert message in cli.stderr


@pytest.mark.parametrize("arguments, message", [
    (dict(n=0), "--n must be a positive number of prompts (got 0)"),
    (dict(batch_size=0), "--batch-size must be positive (got 0)"),
    (dict(top=-1), "--top must be at least 0 (got -1)"),
    (dict(dataset="prompts.jsonl", task="ioi"), "dataset: give a dataset file or task/options, not both"),
])
def test_bad_values_raise_before_loading(arguments, message):
    """What CLI11 refuses on the command line, the app layer refuses for Python (no model is read: none exists)."""
    with pytest.raises(cscrub.Error, match=re.escape(message)):
        cscrub.attribute(model="no/such/model", **arguments)


def test_unknown_keyword_raises(ioi_model):
    with pytest.raises(cscrub.Error, match="unknown keyword argument 'pairs'"):
        cscrub.attribute(model=str(ioi_model), pairs="pairs.jsonl")
