"""Model: config, tokenizer, forward passes and run_with_cache, against the CLI and the engine's own invariants."""
import numpy as np
import pytest

import cscrub
from conftest import BUNDLED_MODEL, run_cli

IOI_TEXT = "Then, Mary and John went to the store. John gave a drink to"


def test_the_default_model_is_the_bundled_one(model):
    assert cscrub.Model(str(BUNDLED_MODEL)).path == model.path
    config = model.config
    assert (config.n_layer, config.n_head, config.d_model, config.d_head, config.d_mlp, config.vocab_size,
            config.n_ctx) == (3, 4, 128, 32, 512, 50257, 128)
    assert config["n_head"] == config.n_heads == 4
    assert config.to_dict()["d_model"] == 128
    with pytest.raises(KeyError):
        config["no_such_key"]


def test_tokenize_and_to_string_agree_with_the_cli(model):
    tokens = model.tokenize(IOI_TEXT)
    assert tokens.dtype == np.int32
    printed = run_cli("tokenize", IOI_TEXT).stdout
    assert all(str(token) in printed for token in tokens)
    assert model.to_string(tokens) == IOI_TEXT
    assert model.to_string(np.stack([tokens, tokens])) == [IOI_TEXT, IOI_TEXT]
    assert model.to_str_tokens(IOI_TEXT)[:3] == ["Then", ",", " Mary"]
    assert model.to_string(int(tokens[2])) == " Mary"


def test_logits_are_the_cli_forwards_bit_for_bit(model, tmp_path):
    tokens = model.tokenize(IOI_TEXT)
    batch = np.stack([tokens, tokens[::-1].copy()])
    np.save(tmp_path / "tokens.npy", batch)
    run_cli("forward", "--tokens-npy", tmp_path / "tokens.npy", "--logits-out", tmp_path / "logits.npy",
            "--model", model.path, "--matmul", model.matmul)
    logits = model(batch)
    assert logits.shape == (2, len(tokens), 50257) and logits.dtype == np.float32
    assert np.array_equal(logits, np.load(tmp_path / "logits.npy"))
    # A text, a list of token ids and an array give the same pass.
    assert np.array_equal(model(IOI_TEXT), logits[:1])
    assert np.array_equal(model.forward(tokens.tolist()), logits[:1])


def test_the_bundled_model_solves_this_ioi_prompt(model):
    logits = model(IOI_TEXT)
    assert model.to_string(int(logits[0, -1].argmax())) == " Mary"


def test_run_with_cache_has_every_hook_in_transformerlens_shapes(model):
    tokens = model.tokenize(IOI_TEXT)
    logits, cache = model.run_with_cache(np.stack([tokens, tokens]))
    batch, pos, config = 2, len(tokens), model.config
    heads, d_head, d_model, d_mlp = config.n_head, config.d_head, config.d_model, config.d_mlp
    assert list(cache) == model.hook_names()
    assert len(cache) == 2 + 18 * config.n_layer + 2
    expected = {"hook_embed": (batch, pos, d_model), "hook_pos_embed": (batch, pos, d_model),
                "ln_final.hook_scale": (batch, pos, 1), "ln_final.hook_normalized": (batch, pos, d_model)}
    for layer in range(config.n_layer):
        b = f"blocks.{layer}."
        expected.update({
            b + "hook_resid_pre": (batch, pos, d_model), b + "ln1.hook_scale": (batch, pos, 1),
            b + "ln1.hook_normalized": (batch, pos, d_model),
            b + "attn.hook_q": (batch, pos, heads, d_head), b + "attn.hook_k": (batch, pos, heads, d_head),
            b + "attn.hook_v": (batch, pos, heads, d_head), b + "attn.hook_z": (batch, pos, heads, d_head),
            b + "attn.hook_attn_scores": (batch, heads, pos, pos), b + "attn.hook_pattern": (batch, heads, pos, pos),
            b + "attn.hook_result": (batch, pos, heads, d_model), b + "hook_attn_out": (batch, pos, d_model),
            b + "hook_resid_mid": (batch, pos, d_model), b + "ln2.hook_scale": (batch, pos, 1),
            b + "ln2.hook_normalized": (batch, pos, d_model), b + "mlp.hook_pre": (batch, pos, d_mlp),
            b + "mlp.hook_post": (batch, pos, d_mlp), b + "hook_mlp_out": (batch, pos, d_model),
            b + "hook_resid_post": (batch, pos, d_model)})
    assert {name: array.shape for name, array in cache.items()} == expected
    assert all(array.dtype == np.float32 for array in cache.values())
    # The cache's numbers are the forward's: its own identities hold.
    pattern = cache["blocks.1.attn.hook_pattern"]
    assert np.allclose(pattern.sum(-1), 1, atol=1e-5)
    assert np.all(np.triu(pattern[0, 0], k=1) == 0)
    assert np.allclose(cache["blocks.2.hook_resid_mid"] + cache["blocks.2.hook_mlp_out"],
                       cache["blocks.2.hook_resid_post"], atol=1e-4)
    assert np.array_equal(cache["blocks.0.hook_resid_pre"], cache["hook_embed"] + cache["hook_pos_embed"])
    # Recording changes nothing, but for hook_result: with it attn_out is the sum of the heads' results, rounded
    # differently from one product over all heads.
    plain = model(np.stack([tokens, tokens]))
    assert np.allclose(logits, plain, rtol=1e-5, atol=1e-5)
    without_result = model.run_with_cache(np.stack([tokens, tokens]), names=lambda name: "hook_result" not in name)
    assert np.array_equal(without_result[0], plain)


def test_names_select_hooks(model):
    tokens = model.tokenize(IOI_TEXT)
    assert list(model.run_with_cache(tokens, names="blocks.1.attn.hook_z")[1]) == ["blocks.1.attn.hook_z"]
    chosen = ["blocks.2.hook_resid_post", "hook_embed"]
    assert list(model.run_with_cache(tokens, names=chosen)[1]) == ["hook_embed", "blocks.2.hook_resid_post"]
    patterns = model.run_with_cache(tokens, names=lambda name: name.endswith("hook_pattern"))[1]
    assert list(patterns) == [f"blocks.{layer}.attn.hook_pattern" for layer in range(3)]


@pytest.mark.parametrize("call, message", [
    (lambda m: m.run_with_cache("x", names=["blocks.0.attn.hook_patern"]), "did you mean 'blocks.0.attn.hook_pattern'"),
    (lambda m: m.run_with_cache("x", names=["blocks.3.attn.hook_z"]), "blocks.3"),
    (lambda m: m.run_with_cache("x", names=[3]), "is not a hook name"),
    (lambda m: m([1.5, 2.0]), "must be integers"),
    (lambda m: m([[1, 2], [3]]), "not an array of token ids"),
    (lambda m: m([-1, 2]), "is not a token id"),
    (lambda m: m([50257]), "50257"),
    (lambda m: m(np.zeros((1, 1, 3), dtype=np.int64)), "rank 3"),
    (lambda m: m(list(range(129))), "129"),
    (lambda m: m(""), "empty"),
    (lambda m: m([]), "no token ids"),
    (lambda m: m(["one two", "one"]), "run texts of one length together"),
    (lambda m: m.to_string([60000]), "beyond the tokenizer"),
])
def test_bad_input_raises_a_one_line_error(model, call, message):
    with pytest.raises(cscrub.Error) as raised:
        call(model)
    assert message in str(raised.value) + " " + raised.value.hint
    assert "\n" not in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_model_directory_that_is_not_one_raises(tmp_path):
    with pytest.raises(cscrub.Error, match=str(tmp_path)):
        cscrub.Model(tmp_path)
    with pytest.raises(cscrub.Error, match="matmul"):
        cscrub.Model(matmul="no-such-kernel")


def test_a_model_without_tokenizer_runs_on_ids_and_says_why_text_fails(random_model_dir):
    random = cscrub.Model(random_model_dir)
    assert random(np.arange(10)).shape == (1, 10, 97)
    with pytest.raises(cscrub.Error, match="tokenizer"):
        random("text")
    with pytest.raises(cscrub.Error, match="tokenizer"):
        random.tokenize("text")


def test_last_position_logits_are_the_full_passes_last_row(model):
    tokens = np.stack([model.tokenize(IOI_TEXT)] * 3)
    everything = model(tokens)
    last = model(tokens, logits="last")
    assert last.shape == (3, 1, 50257)
    assert np.allclose(last[:, 0], everything[:, -1], rtol=1e-5, atol=1e-5)
    logits, cache = model.run_with_cache(tokens, names="blocks.1.hook_resid_post", logits=None)
    assert logits is None and cache["blocks.1.hook_resid_post"].shape == (3, 15, 128)
    with pytest.raises(cscrub.Error, match="'first'"):
        model(tokens, logits="first")


def test_parameters_are_read_only_views_of_the_weights(model):
    parameters = model.parameters()
    assert parameters["h.0.attn.c_attn.weight"].shape == (128, 384)
    assert parameters["wte.weight"].shape == (50257, 128)
    assert np.shares_memory(model.W_U, parameters["wte.weight"]) and np.array_equal(model.W_U, model.W_E.T)
    with pytest.raises(ValueError):
        parameters["ln_f.weight"][0] = 1.0
    # The logits are the final normalized residual times W_U.
    logits, cache = model.run_with_cache(IOI_TEXT, names="ln_final.hook_normalized")
    assert np.allclose(cache["ln_final.hook_normalized"] @ model.W_U, logits, atol=1e-4)
