"""Hooks from the shell: `cscrub forward --cache NAMES --cache-out FILE.npz` and `--patch HOOK[:HEAD[:POS]]=FILE.npy`,
against the Python module (the same engine: bit for bit) and the PyTorch reference."""
import zipfile

import numpy as np
import pytest

from conftest import BUNDLED_MODEL, assert_close, run_cli, run_reference

CLEAN = "Then, Mary and John went to the store. John gave a drink to"
CORRUPTED = "Then, Mary and John went to the store. Kate gave a drink to"


def forward(model, *arguments, check=True):
    return run_cli("forward", "--model", model.path, "--matmul", model.matmul, "--top-k", "1", *arguments, check=check)


def test_the_cache_is_an_npz_of_the_modules_activations(model, tmp_path):
    names = ["blocks.0.attn.hook_pattern", "blocks.1.attn.hook_z", "hook_embed", "ln_final.hook_scale"]
    printed = forward(model, "--text", CLEAN, "--cache", ",".join(names), "--cache-out", tmp_path / "cache.npz").stdout
    assert "4 activations" in printed
    saved = np.load(tmp_path / "cache.npz")
    _, cache = model.run_with_cache(CLEAN, names=names)
    assert saved.files == list(cache) == ["hook_embed", "blocks.0.attn.hook_pattern", "blocks.1.attn.hook_z",
                                          "ln_final.hook_scale"]
    for name in names:
        assert saved[name].dtype == np.float32 and np.array_equal(saved[name], cache[name]), name
    assert zipfile.ZipFile(tmp_path / "cache.npz").testzip() is None
    # The same input, the same bytes.
    forward(model, "--text", CLEAN, "--cache", ",".join(names), "--cache-out", tmp_path / "again.npz")
    assert (tmp_path / "again.npz").read_bytes() == (tmp_path / "cache.npz").read_bytes()


def test_cache_all_saves_every_hook_in_forward_order(model, tmp_path):
    forward(model, "--tokens", "464,3290,318,257", "--cache", "all", "--cache-out", tmp_path / "all.npz")
    saved = np.load(tmp_path / "all.npz")
    assert saved.files == model.hook_names()
    _, cache = model.run_with_cache([464, 3290, 318, 257])
    assert all(np.array_equal(saved[name], cache[name]) for name in saved.files)


def test_a_whole_hook_patched_from_a_file_is_the_modules_patch(model, tmp_path):
    forward(model, "--text", CORRUPTED, "--cache", "blocks.0.attn.hook_z", "--cache-out", tmp_path / "corrupted.npz")
    source = np.load(tmp_path / "corrupted.npz")["blocks.0.attn.hook_z"]
    np.save(tmp_path / "z.npy", source)
    forward(model, "--text", CLEAN, "--patch", f"blocks.0.attn.hook_z={tmp_path / 'z.npy'}", "--logits-out",
            tmp_path / "patched.npy")
    patched = model.run_with_hooks(CLEAN, patches={"blocks.0.attn.hook_z": source})
    assert np.array_equal(np.load(tmp_path / "patched.npy"), patched[0])
    assert not np.array_equal(patched, model(CLEAN))


@pytest.mark.parametrize("spec, head, position", [("blocks.1.attn.hook_z:2", 2, None),
                                                   ("blocks.1.attn.hook_z:2:14", 2, 14),
                                                   ("blocks.1.attn.hook_pattern:3:9", 3, 9),
                                                   ("blocks.1.hook_resid_pre:*:14", None, 14)])
def test_a_head_and_position_patch_is_the_references(model, tmp_path, spec, head, position):
    hook = spec.split(":")[0]
    rng = np.random.default_rng(11)
    _, cache = model.run_with_cache(CLEAN, names=[hook])
    noise = rng.normal(size=cache[hook].shape)
    if hook.endswith("hook_pattern"):  # attention is causal: later keys' entries are never read (left at 0)
        noise = np.tril(noise)
    source = (cache[hook] + noise).astype(np.float32)
    np.save(tmp_path / "source.npy", source)
    forward(model, "--text", CLEAN, "--patch", f"{spec}={tmp_path / 'source.npy'}", "--cache", "blocks.2.hook_resid_post",
            "--cache-out", tmp_path / "cache.npz", "--logits-out", tmp_path / "logits.npy")
    heads = "*" if head is None else head
    positions = "*" if position is None else position
    reference = tmp_path / "reference"
    run_reference(BUNDLED_MODEL, model.tokenize(CLEAN)[None], reference,
                  patches=[f"{hook}:{heads}:{positions}:{tmp_path / 'source.npy'}"], hooks=["blocks.2.hook_resid_post"])
    assert_close(np.load(tmp_path / "logits.npy"), np.load(reference / "logits.npy")[0], "logits")
    assert_close(np.load(tmp_path / "cache.npz")["blocks.2.hook_resid_post"],
                 np.load(reference / "blocks.2.hook_resid_post.npy"), "blocks.2.hook_resid_post")


@pytest.mark.parametrize("arguments, message", [
    (["--cache", "blocks.0.attn.hook_patern", "--cache-out", "x.npz"], "did you mean 'blocks.0.attn.hook_pattern'"),
    (["--cache", "blocks.0.attn.hook_z,,hook_embed", "--cache-out", "x.npz"], "an empty name"),
    (["--cache", "hook_embed"], "--cache needs --npz"),
    (["--cache-out", "x.npz"], "--npz needs --cache"),  # the old name of --npz
    (["--npz", "x.npz"], "--npz needs --cache"),
    (["--patch", "blocks.0.attn.hook_q"], "names no file"),
    (["--patch", "blocks.0.hook_attn_ot=z.npy"], "did you mean 'blocks.0.hook_attn_out'"),
    (["--patch", "blocks.0.hook_resid_pre:1=z.npy"], "has no head axis"),
    (["--patch", "blocks.0.attn.hook_z:4=z.npy"], "head 4 of a model with 4 heads"),
    (["--patch", "blocks.0.attn.hook_z:0:3=z.npy"], "position 3 of a 3-token input"),
    (["--patch", "blocks.0.attn.hook_z:x=z.npy"], "'x' is not an index"),
    (["--patch", "blocks.0.attn.hook_z:1:2:3=z.npy"], "more than HOOK:HEAD:POS"),
    (["--patch", "blocks.0.attn.hook_z=z.npy"], "has shape [1, 5, 4, 32], and blocks.0.attn.hook_z is [1, 3, 4, 32]"),
    (["--patch", "blocks.0.attn.hook_z=ids.npy"], "must hold float32"),
    (["--patch", "blocks.0.attn.hook_z=missing.npy"], "missing.npy"),
])
def test_bad_hook_options_fail_with_one_line(model, tmp_path, arguments, message):
    np.save(tmp_path / "z.npy", np.zeros((1, 5, 4, 32), dtype=np.float32))
    np.save(tmp_path / "ids.npy", np.zeros((1, 3, 4, 32), dtype=np.int32))
    result = run_cli("forward", "--tokens", "1,2,3", *[a.replace("z.npy", str(tmp_path / "z.npy"))
                                                       .replace("ids.npy", str(tmp_path / "ids.npy"))
                                                       .replace("missing.npy", str(tmp_path / "missing.npy"))
                                                       .replace("x.npz", str(tmp_path / "x.npz")) for a in arguments],
                     check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert result.stderr.startswith("cscrub: error:") and len(result.stderr.splitlines()) <= 2  # message, hint
    assert not (tmp_path / "x.npz").exists()
