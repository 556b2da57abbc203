"""Every hook point and the logits of run_with_cache match the independent PyTorch reference
(tools/reference_forward.py), on the bundled model and on a random model, at the C++ parity tests' tolerance."""
import numpy as np
import pytest

import cscrub
from conftest import BUNDLED_MODEL, assert_close, run_reference


@pytest.mark.parametrize("which", ["bundled", "random"])
def test_every_hook_matches_the_pytorch_reference(which, random_model_dir, tmp_path):
    directory = BUNDLED_MODEL if which == "bundled" else random_model_dir
    model = cscrub.Model(directory)
    rng = np.random.default_rng(3)
    tokens = rng.integers(0, min(model.config.vocab_size, 5000), size=(2, 12))
    logits, cache = model.run_with_cache(tokens)
    run_reference(directory, tokens, tmp_path)
    assert_close(logits, np.load(tmp_path / "logits.npy"), "logits")
    for name, activation in cache.items():
        assert_close(activation, np.load(tmp_path / f"{name}.npy"), name)
    assert len(cache) == len(model.hook_names())


def test_a_position_and_head_patch_matches_the_reference(random_model_dir, tmp_path):
    model = cscrub.Model(random_model_dir)
    tokens = np.arange(20).reshape(2, 10) % 97
    source = np.random.default_rng(5).normal(size=(2, 10, 4, 16)).astype(np.float32)

    def patch_head_2_at_position_4(v, hook):
        v[:, 4, 2] = source[:, 4, 2]

    logits, cache = model.run_with_cache(tokens, names=["blocks.2.hook_resid_post"],
                                         patches={"blocks.1.attn.hook_v": patch_head_2_at_position_4})
    np.save(tmp_path / "source.npy", source)
    run_reference(random_model_dir, tokens, tmp_path, patches=[f"blocks.1.attn.hook_v:2:4:{tmp_path / 'source.npy'}"],
                  hooks=["blocks.2.hook_resid_post"])
    assert_close(logits, np.load(tmp_path / "logits.npy"), "logits")
    assert_close(cache["blocks.2.hook_resid_post"], np.load(tmp_path / "blocks.2.hook_resid_post.npy"),
                 "blocks.2.hook_resid_post")
