"""Model.gradients: the backward pass from Python, against PyTorch's autograd in float64
(tools/reference_forward.py --logit-grad), against finite differences of the forward, and its errors."""
import numpy as np
import pytest

import cscrub
from conftest import make_random_model, plain_environment, SOURCE_DIR

import subprocess


def reference_gradients(model_dir, tokens, logit_grad, out_dir):
    np.save(out_dir / "tokens.npy", np.asarray(tokens, dtype=np.int64))
    np.save(out_dir / "grad.npy", logit_grad.astype(np.float32))
    subprocess.run(["/usr/bin/python3", str(SOURCE_DIR / "tools" / "reference_forward.py"), "--model", str(model_dir),
                    "--tokens", str(out_dir / "tokens.npy"), "--out", str(out_dir), "--logit-grad",
                    str(out_dir / "grad.npy"), "--float64"], check=True, env=plain_environment(), capture_output=True)


def assert_gradient_close(actual, expected, name):
    """The C++ backward parity test's tolerance (tests/io/test_backward_parity.cpp): gradients span orders of
    magnitude within one tensor, so the bound grows with the tensor's largest value."""
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, reference {expected.shape}"
    expected = expected.astype(np.float64)
    bound = 2e-5 * np.abs(expected).max() + 1e-4 * np.abs(expected) + 1e-7
    worst = np.abs(actual - expected).max()
    assert np.all(np.abs(actual - expected) <= bound), f"{name}: max |diff| {worst:.3g}"


@pytest.mark.parametrize("family", ["gpt2", "gpt_neo", "gpt_neox"])
def test_every_gradient_matches_pytorch_autograd(family, tmp_path):
    model_dir = make_random_model(tmp_path / "model", "--layers", 2, "--heads", 4, "--d-model", 32, "--vocab", 61,
                                  "--n-ctx", 16, "--seed", 11, *(["--family", family] if family != "gpt2" else []))
    model = cscrub.Model(model_dir)
    tokens = np.random.default_rng(1).integers(0, 61, size=(2, 7))
    logit_grad = np.random.default_rng(2).normal(size=(2, 7, 61)).astype(np.float32)
    value, gradients = model.gradients(tokens, logit_grad=logit_grad)
    reference_gradients(model_dir, tokens, logit_grad, tmp_path)
    logits = np.load(tmp_path / "logits.npy").astype(np.float64)
    assert value == pytest.approx(float((logits * logit_grad).sum()), rel=1e-4, abs=1e-3)
    assert len(gradients) > 0
    for name, gradient in gradients.items():
        assert gradient.dtype == np.float32
        assert_gradient_close(gradient, np.load(tmp_path / f"{name}.grad.npy"), name)
    assert not any(name.endswith(("hook_pattern", "hook_attn_scores")) for name in gradients)


def test_named_metrics_are_their_logit_gradients(random_model_dir):
    model = cscrub.Model(random_model_dir)
    tokens = np.random.default_rng(4).integers(0, 97, size=(3, 9))
    answers, distractors = [5, 17, 40], [6, 2, 90]
    value, gradients = model.gradients(tokens, answer=answers, distractor=distractors,
                                       names=["blocks.1.hook_resid_mid", "blocks.0.attn.hook_q"])
    assert list(gradients) == ["blocks.0.attn.hook_q", "blocks.1.hook_resid_mid"]  # forward order
    logits = model(tokens, logits="last")[:, 0].astype(np.float64)
    rows = np.arange(3)
    assert value == pytest.approx((logits[rows, answers] - logits[rows, distractors]).sum(), rel=1e-6)
    one_hot = np.zeros((3, 1, 97), np.float32)
    one_hot[rows, 0, answers] += 1
    one_hot[rows, 0, distractors] -= 1
    same_value, same = model.gradients(tokens, logit_grad=one_hot, names=list(gradients))
    assert same_value == pytest.approx(value, rel=1e-6)
    for name in gradients:
        np.testing.assert_array_equal(gradients[name], same[name])


def metric_of(logits, metric, answers, distractors, reference):
    logits = logits[:, -1].astype(np.float64)
    rows = np.arange(len(logits))
    log_p = logits - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1, keepdims=True)) - logits.max(1, keepdims=True)
    if metric == "prob_diff":
        return (np.exp(log_p[rows, answers]) - np.exp(log_p[rows, distractors])).sum()
    if metric == "loss":
        return -log_p[rows, answers].sum()
    ref = reference[:, -1].astype(np.float64)
    log_q = ref - ref.max(1, keepdims=True)
    log_q -= np.log(np.exp(log_q).sum(1, keepdims=True))
    return (np.exp(log_q) * (log_q - log_p)).sum()


@pytest.mark.parametrize("metric", ["prob_diff", "loss", "kl"])
def test_gradients_match_finite_differences_of_the_forward(metric, random_model_dir):
    model = cscrub.Model(random_model_dir)
    rng = np.random.default_rng(8)
    tokens = rng.integers(0, 97, size=(2, 8))
    answers, distractors = [3, 30], [4, 60]
    reference = model(rng.integers(0, 97, size=(2, 8)), logits="last")
    hook = "blocks.1.hook_resid_pre"
    _, gradients = model.gradients(tokens, metric=metric, answer=answers, distractor=distractors, reference=reference,
                                   names=hook)
    _, cache = model.run_with_cache(tokens, names=hook, logits=None)
    direction = rng.normal(size=cache[hook].shape).astype(np.float32)
    step = 1e-2

    def metric_along(t):
        logits = model.run_with_hooks(tokens, patches={hook: cache[hook] + t * direction}, logits="last")
        return metric_of(logits, metric, answers, distractors, reference)

    numeric = (metric_along(step) - metric_along(-step)) / (2 * step)
    analytic = float((gradients[hook].astype(np.float64) * direction).sum())
    assert analytic == pytest.approx(numeric, rel=2e-2, abs=1e-4)


def test_bundled_model_ioi_gradient_by_text(model):
    prompt = "When Mary and John went to the store, John gave a drink to"
    value, gradients = model.gradients(prompt, answer=" Mary", distractor=" John", names="hook_embed")
    logits = model(prompt, logits="last")[0, 0]
    mary, john = model.tokenize(" Mary")[0], model.tokenize(" John")[0]
    assert value == pytest.approx(float(logits[mary]) - float(logits[john]), rel=1e-5)
    assert gradients["hook_embed"].shape == (1, len(model.tokenize(prompt)), model.config.d_model)
    assert np.abs(gradients["hook_embed"]).max() > 0


@pytest.mark.parametrize("arguments, message", [
    (dict(metric="accuracy", answer=1, distractor=2), "is not 'logit_diff'"),
    (dict(metric="logit_diff", answer=1), "needs distractor="),
    (dict(metric="kl"), "needs reference="),
    (dict(answer=1, distractor=2, names="blocks.0.attn.hook_pattern"), "has no gradient"),
    (dict(answer=1, distractor=[2, 3, 4]), "3 tokens for 2 sequences"),
    (dict(answer=1000, distractor=2), "outside the vocabulary"),
    (dict(logit_grad=np.zeros((2, 3, 97))), "must have shape"),
    (dict(logit_grad=np.full((2, 1, 97), np.nan)), "not finite"),
    (dict(metric="loss", answer=1, logit_grad=np.zeros((2, 1, 97))), "not both"),
    (dict(answer=1, distractor=2, patches={"blocks.0.attn.hook_q_input": np.zeros(1)}), "hook_q_input"),
])
def test_bad_arguments_raise_one_line_errors(arguments, message, random_model_dir):
    model = cscrub.Model(random_model_dir)
    with pytest.raises(cscrub.Error, match=message) as raised:
        model.gradients(np.zeros((2, 5), np.int64), **arguments)
    assert "\n" not in str(raised.value)
