"""run_with_hooks / run_with_cache(patches=...): arrays and callables overwrite hook points, checked against the
PyTorch reference's patches (tools/reference_forward.py) and the engine's own runs."""
import gc

import numpy as np
import pytest

import cscrub
from conftest import BUNDLED_MODEL, assert_close, run_reference

CLEAN = "Then, Mary and John went to the store. John gave a drink to"
CORRUPTED = "Then, Mary and John went to the store. Kate gave a drink to"  # one token differs: the same length


@pytest.fixture(scope="module")
def prompts(model):
    clean, corrupted = model.tokenize(CLEAN), model.tokenize(CORRUPTED)
    assert clean.shape == corrupted.shape
    return clean, corrupted


def test_an_array_patch_is_the_references_patch(model, prompts, tmp_path):
    clean, corrupted = prompts
    _, corrupted_cache = model.run_with_cache(corrupted, names=["blocks.0.attn.hook_z"])
    source = corrupted_cache["blocks.0.attn.hook_z"]
    patched = model.run_with_hooks(clean, patches={"blocks.0.attn.hook_z": source})
    np.save(tmp_path / "source.npy", source)
    run_reference(BUNDLED_MODEL, clean[None], tmp_path, patches=[f"blocks.0.attn.hook_z:*:*:{tmp_path / 'source.npy'}"],
                  hooks=[])
    assert_close(patched, np.load(tmp_path / "logits.npy"), "logits patched at blocks.0.attn.hook_z")
    # Patching every head of hook_z with the corrupted prompt's values at layer 0 changes the answer's logit.
    plain = model(clean)
    assert not np.allclose(patched, plain)


def test_a_callable_edits_one_head_as_the_reference_does(model, prompts, tmp_path):
    clean, _ = prompts
    seen = []

    def ablate_head_1(z, hook):
        seen.append((hook.name, hook.layer, hook.site, z.shape))
        z[:, :, 1] = 0

    logits, cache = model.run_with_cache(clean, names=["blocks.1.attn.hook_z"],
                                         patches={"blocks.1.attn.hook_z": ablate_head_1})
    assert seen == [("blocks.1.attn.hook_z", 1, "attn.hook_z", (1, len(clean), 4, 32))]
    assert np.all(cache["blocks.1.attn.hook_z"][:, :, 1] == 0)  # the cache holds what the pass continued from
    run_reference(BUNDLED_MODEL, clean[None], tmp_path, patches=["blocks.1.attn.hook_z:1:*:0"], hooks=[])
    assert_close(logits, np.load(tmp_path / "logits.npy"), "logits with head 1.1 zero-ablated")


def test_a_callable_may_return_the_new_value_or_take_only_the_activation(model, prompts):
    clean, _ = prompts
    name = "blocks.2.hook_mlp_out"

    def halve(out, hook):
        out *= 0.5

    in_place = model.run_with_hooks(clean, patches={name: halve})
    returned = model.run_with_hooks(clean, patches={name: lambda out, hook: out * 0.5})
    one_argument = model.run_with_hooks(clean, patches={name: lambda out: out * 0.5})
    _, cache = model.run_with_cache(clean, names=[name])
    from_array = model.run_with_hooks(clean, patches={name: cache[name] * 0.5})
    assert np.array_equal(in_place, returned)
    assert np.array_equal(returned, one_argument)
    assert np.array_equal(returned, from_array)


def test_a_patch_that_leaves_values_alone_leaves_the_logits_alone(model, prompts):
    clean, _ = prompts
    unchanged = model.run_with_hooks(clean, patches={"blocks.1.attn.hook_z": lambda z, hook: None,
                                                     "blocks.0.hook_resid_post": lambda x, hook: x})
    assert np.array_equal(unchanged, model(clean))


def test_a_scalar_or_a_broadcasting_array_overwrites_every_element(model, prompts):
    clean, _ = prompts
    _, zeroed = model.run_with_cache(clean, names=["blocks.0.hook_attn_out"], patches={"blocks.0.hook_attn_out": 0})
    assert np.all(zeroed["blocks.0.hook_attn_out"] == 0)
    row = np.arange(128, dtype=np.float64)
    _, filled = model.run_with_cache(clean, names=["blocks.0.hook_attn_out"], patches={"blocks.0.hook_attn_out": row})
    assert np.array_equal(filled["blocks.0.hook_attn_out"][0, 3], row.astype(np.float32))


def test_an_array_kept_by_a_callable_stays_valid(model, prompts):
    clean, _ = prompts
    kept = []
    model.run_with_hooks(clean, patches={"blocks.0.attn.hook_pattern": lambda pattern, hook: kept.append(pattern)})
    model(np.tile(clean, (8, 1)))  # reuses the memory a view of the engine's buffer would have pointed to
    gc.collect()
    assert kept[0].shape == (1, 4, len(clean), len(clean))
    assert np.allclose(kept[0].sum(-1), 1, atol=1e-5)


@pytest.mark.parametrize("patches, error, message", [
    ({"blocks.0.attn.hook_z": np.zeros((2, 3))}, cscrub.Error, "patch of blocks.0.attn.hook_z"),
    ({"blocks.0.attn.hook_z": lambda z, hook: np.zeros(5)}, cscrub.Error, "patch of blocks.0.attn.hook_z"),
    ({"blocks.0.attn.hook_zz": 0}, cscrub.Error, "did you mean 'blocks.0.attn.hook_z'"),
    ({"blocks.0.attn.hook_z": "text"}, cscrub.Error, "patch of blocks.0.attn.hook_z"),
    ({0: 0}, cscrub.Error, "is not a hook name"),
    ([("blocks.0.attn.hook_z", 0)], cscrub.Error, "give a dict"),
    ({"blocks.0.attn.hook_z": lambda z, hook: 1 / 0}, ZeroDivisionError, "division"),
])
def test_bad_patches_raise(model, prompts, patches, error, message):
    clean, _ = prompts
    with pytest.raises(error, match=message):
        model.run_with_hooks(clean, patches=patches)
    assert np.array_equal(model(clean), model(clean))  # the model is still usable
