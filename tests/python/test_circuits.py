"""faithfulness() returns what `cscrub faithfulness --json` writes, and circuit() the files `cscrub circuit` writes;
the circuit's hypothesis runs."""
import pytest

import cscrub
from conftest import read_json, run_cli


@pytest.fixture(scope="module")
def exact_graph(tmp_path_factory, model):
    graph = tmp_path_factory.mktemp("circuits") / "exact.json"
    run_cli("discover", "--method", "exact", "--n", "16", "--seed", "3", "--out", graph, "--quiet", "--matmul",
            model.matmul)
    return graph


def test_faithfulness_is_the_clis_json(exact_graph, model, tmp_path):
    run_cli("faithfulness", exact_graph, "--n", "16", "--seed", "3", "--sizes", "0.02,0.1,1", "--json",
            tmp_path / "faithfulness.json", "--quiet", "--matmul", model.matmul)
    result = cscrub.faithfulness([exact_graph], n=16, seed=3, sizes=[0.02, 0.1, 1.0], model=model)
    assert result == read_json(tmp_path / "faithfulness.json")
    curves = result["files"][0]["curves"]
    assert [curve["ranking"] for curve in curves] == ["absolute", "ascending"]  # logit_diff: negative is important
    assert curves[0]["points"][-1]["faithfulness"] == 1.0
    assert result["files"][0]["method"] == "exact"


def test_circuit_is_what_the_cli_writes(exact_graph, tmp_path):
    run_cli("circuit", exact_graph, "--top", "5", "--out", tmp_path / "circuit.json", "--toml", tmp_path / "circuit.toml",
            "--dot", tmp_path / "circuit.dot")
    circuit = cscrub.circuit(exact_graph, top=5)
    assert circuit["toml"] == (tmp_path / "circuit.toml").read_text()
    assert circuit["dot"] == (tmp_path / "circuit.dot").read_text()
    assert circuit["graph"] == read_json(tmp_path / "circuit.json")
    kept = [name for name, edge in circuit["graph"]["edges"].items() if edge["in_graph"]]
    assert sorted(kept) == sorted(edge["edge"] for edge in circuit["edges"])
    assert circuit["edge_count"] == len(kept) <= 5
    scores = [abs(edge["score"]) for edge in circuit["edges"]]
    assert scores == sorted(scores, reverse=True)
    # The hypothesis is an ordinary one: it runs.
    (tmp_path / "from_python.toml").write_text(circuit["toml"])
    result = cscrub.run(tmp_path / "from_python.toml", n=24, seeds=1)
    assert result["hypothesis"].startswith("circuit of exact.json")


def test_bad_arguments_raise_cscrub_errors(exact_graph, tmp_path):
    with pytest.raises(cscrub.Error, match="--top and --threshold"):
        cscrub.circuit(exact_graph, top=3, threshold=0.5)
    with pytest.raises(cscrub.Error, match="no such file|cannot open"):
        cscrub.circuit(tmp_path / "missing.json")
    with pytest.raises(cscrub.Error, match="unknown keyword argument 'size'"):
        cscrub.faithfulness([exact_graph], size=[0.5])
    with pytest.raises(cscrub.Error, match="increase"):
        cscrub.faithfulness([exact_graph], sizes=[0.5, 0.1], n=8)
