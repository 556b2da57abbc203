"""docs/python.md's walkthrough runs as written, and its patching and attribution grids, computed by hand through
hooks, are the ones `cscrub patch` and `cscrub attribute` compute with their own code (src/discover)."""
import os
import re

import numpy as np
import pytest

from conftest import SOURCE_DIR, read_json, run_cli


@pytest.fixture(scope="module")
def walkthrough():
    text = (SOURCE_DIR / "docs" / "python.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 5
    namespace = {}
    previous = os.getcwd()
    os.chdir(SOURCE_DIR)
    try:
        for block in blocks:
            exec(compile(block, "docs/python.md", "exec"), namespace)
    finally:
        os.chdir(previous)
    return namespace


def test_the_patching_grid_is_cscrub_patch(walkthrough, tmp_path):
    model = walkthrough["model"]
    run_cli("patch", "--direction", "noise", "--n", 200, "--seed", 0, "--quiet", "--out-npy", tmp_path / "noise.npy",
            "--model", model.path, "--matmul", model.matmul)
    assert np.allclose(walkthrough["effect"], np.load(tmp_path / "noise.npy"), atol=1e-4)
    assert walkthrough["effect"][0, 1] < -1  # head 0.1, as the page says


def test_the_attribution_grid_is_cscrub_attribute(walkthrough, tmp_path):
    model = walkthrough["model"]
    run_cli("attribute", "--n", 200, "--seed", 0, "--quiet", "--out-npy", tmp_path / "dla.npy", "--model", model.path,
            "--matmul", model.matmul)
    assert np.allclose(walkthrough["attribution"] / 200, np.load(tmp_path / "dla.npy"), atol=1e-3)


def test_the_gradient_estimates_are_the_heads_eap_scores(walkthrough, tmp_path):
    """Each head's attribution-patching estimate is the sum of the EAP scores of its outgoing edges: the same
    gradients, computed by cscrub.discover's edge contraction instead of by hand."""
    model = walkthrough["model"]
    graph = tmp_path / "eap.json"
    run_cli("discover", "--method", "eap", "--task", "ioi", "--n", 200, "--seed", 0, "--quiet", "--out", graph,
            "--model", model.path, "--matmul", model.matmul)
    by_head = np.zeros_like(walkthrough["estimate_sum"])
    for edge, entry in read_json(graph)["edges"].items():
        source = edge.split("->")[0]
        if source.startswith("a"):
            layer, head = map(int, source[1:].split(".h"))
            by_head[layer, head] += entry["score"]
    expected = walkthrough["estimate_sum"] / len(walkthrough["clean"])
    assert np.allclose(by_head, expected, rtol=1e-5, atol=1e-5)
    assert expected[0, 1] < -10  # head 0.1 carries most of the logit difference


def test_the_printed_claims_hold(walkthrough):
    result = walkthrough["result"]
    first, second = result["hypotheses"]
    assert first["recovered_ci95"][0] < 1 < first["recovered_ci95"][1]
    assert second["difference_to_first"]["ci95"][1] < 0
