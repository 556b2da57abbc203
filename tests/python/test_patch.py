"""cscrub.patch(): activation patching, ablations and path patching from Python are the JSON `cscrub patch --json`
writes, number for number, on the IOI organism (models/attn-only-4l-ioi); options that do not go together raise
cscrub.Error with the CLI's message."""
import pytest

import cscrub
from conftest import SOURCE_DIR, read_json, run_cli

N = 24


@pytest.fixture(scope="module")
def ioi_model():
    """The IOI organism (tools/setup.sh fetches its tokenizer files)."""
    return SOURCE_DIR / "models" / "attn-only-4l-ioi"


@pytest.mark.parametrize("settings", [
    dict(kind="head"),
    dict(kind="path", receivers="2.1:q"),
    dict(kind="layer", ablation="mean"),
    dict(kind="head", site="q", position="END", direction="noise", value="change", top=5),
])
def test_patch_returns_the_cli_json(ioi_model, tmp_path, settings):
    out = tmp_path / "patch.json"
    flags = [word for key, value in settings.items() for word in (f"--{key}", value)]
    run_cli("patch", "--model", ioi_model, "--n", N, "--seed", 1, *flags, "--quiet", "--json", out)
    stages = []
    result = cscrub.patch(model=str(ioi_model), n=N, seed=1, **settings,
                          progress=lambda stage, done, total: stages.append((stage, done, total)))
    assert result == read_json(out)
    assert result["command"] == "patch" and result["n"] == N
    assert result["model"] == str(ioi_model)
    assert any(value for row in result["change"]["grid"]["values"] for value in row)
    assert stages and stages[-1][1] == stages[-1][2]


def test_patch_takes_a_model_object_and_a_pair_file(ioi_model, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text('{"clean": "When Mary and John went to the store, John gave a drink to", "corrupted": "When '
                     'Mary and John went to the store, Mary gave a drink to", "answer": " Mary", "distractor": '
                     '" John"}\n')
    out = tmp_path / "patch.json"
    run_cli("patch", "--model", ioi_model, "--pairs", pairs, "--quiet", "--json", out)
    assert cscrub.patch(model=cscrub.Model(str(ioi_model)), pairs=str(pairs)) == read_json(out)


@pytest.mark.parametrize("kind, arguments, flags", [
    ("bogus", {}, []),
    ("head", dict(receivers="2.1:q"), ["--receivers", "2.1:q"]),
    ("path", dict(ablation="mean"), ["--ablation", "mean"]),
    ("head", dict(ablation="zero", direction="noise"), ["--ablation", "zero", "--direction", "noise"]),
    ("head", dict(value="both"), ["--value", "both"]),
])
def test_bad_options_raise_the_cli_message(ioi_model, kind, arguments, flags):
    cli = run_cli("patch", "--model", ioi_model, "--n", N, "--kind", kind, *flags, "--quiet", check=False)
    assert cli.returncode != 0
    with pytest.raises(cscrub.Error) as error:
        cscrub.patch(kind, model=str(ioi_model), n=N, **arguments)
    message = str(error.value)
    assert message and "\n" not in message
    assert message in cli.stderr


def test_unknown_keyword_raises(ioi_model):
    with pytest.raises(cscrub.Error, match="unknown keyword argument 'recievers'"):
        cscrub.patch("path", model=str(ioi_model), recievers="2.1:q")
