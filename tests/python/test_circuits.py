"""faithfulness() returns what `cscrub faithfulness --json` writes, and circuit() the files `cscrub circuit` writes;
the circuit's hypothesis runs."""
import json

import pytest

import cscrub
from conftest import read_json, run_cli


def graph_json(layers, heads, d_model):
    """A scored graph file of EAP-IG's graph of the model's shape (sequential blocks), with fixed made-up scores and the
    provenance `cscrub discover --method exact` records: what the commands read, without running a discovery."""
    def head(layer, index):
        return f"a{layer}.h{index}"
    sources = ["input"]
    for layer in range(layers):
        sources += [head(layer, index) for index in range(heads)] + [f"m{layer}"]
    readable = lambda layer: 1 + layer * (heads + 1)  # input and every source of the layers before
    edges = []
    for layer in range(layers):
        for port in "qkv":
            edges += [(parent, f"{head(layer, index)}<{port}>") for index in range(heads)
                      for parent in sources[:readable(layer)]]
        edges += [(parent, f"m{layer}") for parent in sources[:readable(layer) + heads]]
    edges += [(parent, "logits") for parent in sources]
    scored = {f"{parent}->{child}": {"score": ((index * 7919) % 1001 - 500) / 250.0, "in_graph": False}
              for index, (parent, child) in enumerate(edges)}
    return {"cfg": {"n_layers": layers, "n_heads": heads, "parallel_attn_mlp": False, "d_model": d_model},
            "nodes": {**{name: {"in_graph": False} for name in sources}, "logits": {"in_graph": True}},
            "edges": scored,
            "cscrub": {"method": "exact", "metric": "logit_diff", "higher_is_better": True, "task": "ioi",
                       "corruption": "p_abc", "pairs": 16}}


@pytest.fixture(scope="module")
def exact_graph(tmp_path_factory, model):
    graph = tmp_path_factory.mktemp("circuits") / "exact.json"
    config = model.config
    graph.write_text(json.dumps(graph_json(config.n_layer, config.n_head, config.d_model)))
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


def test_faithfulness_on_a_dataset_file_is_the_clis_json(exact_graph, model, tmp_path):
    dataset = tmp_path / "induction.jsonl"
    cscrub.dataset("induction", 40, seed=1, model=model).save(str(dataset))
    run_cli("faithfulness", exact_graph, "--dataset", dataset, "--seed", "1", "--sizes", "0.1,1", "--json",
            tmp_path / "faithfulness.json", "--quiet", "--matmul", model.matmul)
    result = cscrub.faithfulness(exact_graph, dataset=dataset, seed=1, sizes=[0.1, 1.0], model=model)
    assert result == read_json(tmp_path / "faithfulness.json")
    assert result["prompts"] == f"40 prompts of {dataset}" and result["task"] == "induction"
    generated = cscrub.faithfulness(exact_graph, task="induction", n=40, seed=1, sizes=[0.1, 1.0], model=model)
    assert result["files"] == generated["files"]


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
    with pytest.raises(cscrub.Error, match="dataset: give a dataset file or task/options, not both"):
        cscrub.faithfulness([exact_graph], dataset="prompts.jsonl", task="ioi")
    with pytest.raises(cscrub.Error, match="pairs: give a pair file, or task/n/seed/options or a dataset"):
        cscrub.faithfulness([exact_graph], pairs="pairs.jsonl", n=8)
    with pytest.raises(cscrub.Error, match="increase"):
        cscrub.faithfulness([exact_graph], sizes=[0.5, 0.1], n=8)
