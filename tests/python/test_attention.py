"""cscrub.attention(): one head's attention pattern from Python is the JSON `cscrub attention --json` writes, number
for number, on the IOI organism (models/attn-only-4l-ioi); bad options raise cscrub.Error with the CLI's message."""
import pytest

import cscrub
from conftest import SOURCE_DIR, read_json, run_cli

TEXT = "When Mary and John went to the store, John gave a drink to"


@pytest.fixture(scope="module")
def ioi_model():
    """The IOI organism (tools/setup.sh fetches its tokenizer files)."""
    return SOURCE_DIR / "models" / "attn-only-4l-ioi"


@pytest.mark.parametrize("head, arguments, flags", [
    ("3.0", dict(text=TEXT), ["--text", TEXT]),
    ("2.1", dict(index=3, n=10, seed=1), ["--index", 3, "--n", 10, "--seed", 1]),
    ("0.0", dict(index=0, n=4, options={"order": "abba"}), ["--index", 0, "--n", 4, "--option", "order=abba"]),
])
def test_attention_returns_the_cli_json(ioi_model, tmp_path, head, arguments, flags):
    out = tmp_path / "attention.json"
    run_cli("attention", "--model", ioi_model, "--head", head, *flags, "--json", out)
    result = cscrub.attention(head, model=str(ioi_model), **arguments)
    assert result == read_json(out)
    assert result["command"] == "attention" and result["head"] == head
    assert result["model"] == str(ioi_model)
    pattern = result["pattern"]["values"]
    assert len(pattern) == len(result["tokens"]) == len(result["pattern"]["labels"]["query"])
    # Each query's probabilities over the keys it can see sum to 1; later keys get none.
    for query, row in enumerate(pattern):
        assert sum(row) == pytest.approx(1, abs=1e-4)
        assert not any(row[query + 1:])
    if "index" in arguments:  # a task's prompt labels its named positions
        assert any(label.endswith("[S2]") for label in result["pattern"]["labels"]["query"])


def test_attention_takes_a_model_object_and_a_dataset_file(ioi_model, tmp_path):
    model = cscrub.Model(str(ioi_model))
    dataset = tmp_path / "prompts.jsonl"
    cscrub.dataset("ioi", 6, seed=5, model=model).save(str(dataset))
    out = tmp_path / "attention.json"
    run_cli("attention", "--model", ioi_model, "--head", "3.2", "--dataset", dataset, "--index", 5, "--json", out)
    result = cscrub.attention(head="3.2", model=model, dataset=str(dataset), index=5)
    assert result == read_json(out)
    assert result["prompt"] == cscrub.read_dataset(str(dataset), model=model)[5]["text"]


@pytest.mark.parametrize("head, arguments, flags", [
    ("2.1", {}, []),
    ("2.1", dict(text=TEXT, index=0), ["--text", TEXT, "--index", 0]),
    ("2.1", dict(text=""), ["--text", ""]),
    ("2.1", dict(index=10, n=10), ["--index", 10, "--n", 10]),
    ("2.1", dict(index=-1), ["--index", -1]),
    ("9.0", dict(text=TEXT), ["--text", TEXT]),
    ("2.1", dict(index=0, task="bogus"), ["--index", 0, "--task", "bogus"]),
])
def test_bad_options_raise_the_cli_message(ioi_model, head, arguments, flags):
    cli = run_cli("attention", "--model", ioi_model, "--head", head, *flags, check=False)
    assert cli.returncode != 0
    with pytest.raises(cscrub.Error) as error:
        cscrub.attention(head, model=str(ioi_model), **arguments)
    message = str(error.value)
    assert message and "\n" not in message
    assert message in cli.stderr


def test_unknown_keyword_raises(ioi_model):
    with pytest.raises(cscrub.Error, match="unknown keyword argument 'batch_size'"):
        cscrub.attention("2.1", model=str(ioi_model), text=TEXT, batch_size=8)
