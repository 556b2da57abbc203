"""The module on GPT-Neo and Pythia (GPT-NeoX) checkpoints: every hook and the logits of run_with_cache against
the independent PyTorch reference (tools/reference_forward.py) on a random checkpoint of each family, a patch of
a rotary hook against the reference's, the hooks each family has (hook_rot_q/k only where positions are rotary,
hook_pos_embed only where they are learned), and the CLI's `forward --cache all` saving the same arrays."""
import json

import numpy as np
import pytest

import cscrub
from conftest import assert_close, make_random_model, run_cli, run_reference

FAMILIES = {
    # Local attention windows of 3 on alternate layers (GPT-Neo 125M's pattern, with a window the prompt exceeds).
    "gpt_neo": ["--family", "gpt_neo", "--layers", 2, "--heads", 4, "--d-model", 32, "--vocab", 97, "--n-ctx", 32,
                "--window", 3, "--seed", 11],
    # Rotary on a quarter of each head, attention and MLP in parallel (Pythia's defaults).
    "gpt_neox": ["--family", "gpt_neox", "--layers", 2, "--heads", 4, "--d-model", 32, "--vocab", 97, "--n-ctx", 32,
                 "--rotary-pct", 0.5, "--seed", 12],
}


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family_dir(request, tmp_path_factory):
    return request.param, make_random_model(tmp_path_factory.mktemp(request.param), *FAMILIES[request.param])


def test_every_hook_matches_the_pytorch_reference(family_dir, tmp_path):
    family, directory = family_dir
    model = cscrub.Model(directory)
    assert model.config.model_type == family
    tokens = np.random.default_rng(4).integers(0, model.config.vocab_size, size=(2, 9))
    logits, cache = model.run_with_cache(tokens)
    run_reference(directory, tokens, tmp_path)
    assert_close(logits, np.load(tmp_path / "logits.npy"), "logits")
    for name, activation in cache.items():
        assert_close(activation, np.load(tmp_path / f"{name}.npy"), name)
    assert sorted(cache) == sorted(model.hook_names())  # in the order the pass reaches them: a parallel block's
    # ln2 comes before its resid_mid


def test_each_family_lists_the_hooks_it_has(family_dir):
    family, directory = family_dir
    model = cscrub.Model(directory)
    names = model.hook_names()
    rotary = family == "gpt_neox"
    assert ("hook_pos_embed" in names) == (not rotary)
    for layer in range(2):
        assert (f"blocks.{layer}.attn.hook_rot_q" in names) == rotary
        assert (f"blocks.{layer}.attn.hook_rot_k" in names) == rotary
    assert model.config.parallel_attn_mlp == rotary
    if rotary:
        assert model.config.rotary_dims == 4  # half of d_head 8
        with pytest.raises(cscrub.Error, match="no position embedding"):
            model.run_with_cache([[1, 2, 3]], names=["hook_pos_embed"])
    else:
        with pytest.raises(cscrub.Error, match="no rotary embedding"):
            model.run_with_cache([[1, 2, 3]], names=["blocks.0.attn.hook_rot_q"])


def test_a_patched_rotary_key_matches_the_reference(tmp_path, tmp_path_factory):
    directory = make_random_model(tmp_path_factory.mktemp("neox-patch"), *FAMILIES["gpt_neox"])
    model = cscrub.Model(directory)
    tokens = np.arange(16).reshape(2, 8) % 97
    source = np.random.default_rng(6).normal(size=(2, 8, 4, 8)).astype(np.float32)

    def patch_head_1_at_position_5(k, hook):
        assert hook.name == "blocks.1.attn.hook_rot_k"
        k[:, 5, 1] = source[:, 5, 1]

    logits, cache = model.run_with_cache(tokens, names=["blocks.1.hook_resid_post"],
                                         patches={"blocks.1.attn.hook_rot_k": patch_head_1_at_position_5})
    np.save(tmp_path / "source.npy", source)
    run_reference(directory, tokens, tmp_path, patches=[f"blocks.1.attn.hook_rot_k:1:5:{tmp_path / 'source.npy'}"],
                  hooks=["blocks.1.hook_resid_post"])
    assert_close(logits, np.load(tmp_path / "logits.npy"), "logits")
    assert_close(cache["blocks.1.hook_resid_post"], np.load(tmp_path / "blocks.1.hook_resid_post.npy"),
                 "blocks.1.hook_resid_post")
    unpatched, _ = model.run_with_cache(tokens, names=[])
    assert not np.allclose(unpatched[:, 5:], logits[:, 5:])  # the patch reached the logits


def test_the_cli_caches_the_same_hooks(family_dir, tmp_path):
    family, directory = family_dir
    model = cscrub.Model(directory)
    tokens = np.array([[5, 17, 3, 96, 40, 2]], dtype=np.int64)
    np.save(tmp_path / "tokens.npy", tokens)
    run_cli("forward", "--model", directory, "--tokens-npy", tmp_path / "tokens.npy", "--cache", "all",
            "--npz", tmp_path / "cache.npz")
    saved = np.load(tmp_path / "cache.npz")
    _, cache = model.run_with_cache(tokens)
    assert saved.files == model.hook_names()
    for name in saved.files:
        np.testing.assert_array_equal(saved[name], cache[name], err_msg=name)


def read_safetensors(path):
    """{name: array} of a float32 safetensors file, read by hand (the safetensors package is not installed)."""
    data = path.read_bytes()
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8:8 + header_size])
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", name
        begin, end = entry["data_offsets"]
        tensors[name] = np.frombuffer(data, np.float32, (end - begin) // 4, 8 + header_size + begin).reshape(entry["shape"])
    return tensors


def test_parameters_are_the_checkpoints_tensors(family_dir):
    family, directory = family_dir
    stored = read_safetensors(directory / "model.safetensors")
    parameters = cscrub.Model(directory).parameters()
    prefix = {"gpt_neo": "transformer.", "gpt_neox": "gpt_neox."}[family]
    stored = {name.removeprefix(prefix): tensor for name, tensor in stored.items()
              if not name.endswith((".attn.bias", ".attn.masked_bias", ".rotary_emb.inv_freq"))}
    assert sorted(parameters) == sorted(stored)
    for name, tensor in stored.items():
        np.testing.assert_array_equal(parameters[name], tensor, err_msg=name)
        assert not parameters[name].flags.writeable, name
