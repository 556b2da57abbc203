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


def model_dir(walkthrough):
    """The walkthrough's model directory: its path is relative to the checkout, where the blocks ran."""
    return SOURCE_DIR / walkthrough["model"].path


def test_the_patching_grid_is_cscrub_patch(walkthrough, tmp_path):
    model = walkthrough["model"]
    run_cli("patch", "--direction", "noise", "--n", 200, "--seed", 0, "--quiet", "--out-npy", tmp_path / "noise.npy",
            "--model", model_dir(walkthrough), "--matmul", model.matmul)
    assert np.allclose(walkthrough["effect"], np.load(tmp_path / "noise.npy"), atol=1e-4)
    # The IOI organism's circuit, as the page says: patched from p_ABC alone, the current-token head 0.1 loses most of
    # the logit difference (-80%), the S-inhibition head 2.3 two thirds (-67%), the name mover 3.2 almost half (-47%).
    effect = walkthrough["effect"]
    assert effect[0, 1] < -0.6
    assert effect[2, 3] < -0.5 and effect[3, 2] < -0.35


def test_the_attribution_grid_is_cscrub_attribute(walkthrough, tmp_path):
    model = walkthrough["model"]
    run_cli("attribute", "--n", 200, "--seed", 0, "--quiet", "--out-npy", tmp_path / "dla.npy",
            "--model", model_dir(walkthrough), "--matmul", model.matmul)
    assert np.allclose(walkthrough["attribution"] / 200, np.load(tmp_path / "dla.npy"), atol=1e-3)
    # The name mover 3.2 writes the largest share of the logit difference (+6.13 of 12.25), the next head +4.07.
    attribution = walkthrough["attribution"] / 200
    assert np.unravel_index(np.argmax(attribution), attribution.shape) == (3, 2) and attribution[3, 2] > 5


def test_the_gradient_estimates_are_the_heads_eap_scores(walkthrough, tmp_path):
    """Each head's attribution-patching estimate is the sum of the EAP scores of its outgoing edges: the same
    gradients, computed by cscrub.discover's edge contraction instead of by hand."""
    model = walkthrough["model"]
    graph = tmp_path / "eap.json"
    run_cli("discover", "--method", "eap", "--task", "ioi", "--n", 200, "--seed", 0, "--quiet", "--out", graph,
            "--model", model_dir(walkthrough), "--matmul", model.matmul)
    by_head = np.zeros_like(walkthrough["estimate_sum"])
    for edge, entry in read_json(graph)["edges"].items():
        source = edge.split("->")[0]
        if source.startswith("a"):
            layer, head = map(int, source[1:].split(".h"))
            by_head[layer, head] += entry["score"]
    expected = walkthrough["estimate_sum"] / len(walkthrough["clean"])
    assert np.allclose(by_head, expected, rtol=1e-5, atol=1e-5)
    assert expected[3, 2] < -3 and expected[2, 3] < -2  # the name mover 3.2 (-0.32 normalized), S-inhibition 2.3 (-0.19)


def test_the_printed_claims_hold(walkthrough):
    result = walkthrough["result"]
    first, second = result["hypotheses"]
    assert 0.95 < first["recovered_ci95"][0] and first["recovered_ci95"][1] < 1.05  # 99.9% [99.0, 100.9]
    assert second["difference_to_first"]["ci95"][1] < -0.5  # S-inhibition resampled: -72.0 points [-76.1, -68.1]
