"""Shared fixtures of the Python module's tests (run by CTest as `python: <file>`, or by hand with
PYTHONPATH=build/python CSCRUB_CLI=build/cscrub /usr/bin/python3 -m pytest tests/python)."""
import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

SOURCE_DIR = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = pathlib.Path(os.environ.get("CSCRUB_BUILD_DIR", SOURCE_DIR / "build"))
CLI = pathlib.Path(os.environ.get("CSCRUB_CLI", BUILD_DIR / "cscrub"))
BUNDLED_MODEL = SOURCE_DIR / "models" / "gpt2-ioi-mini"
IOI_HYPOTHESES = SOURCE_DIR / "hypotheses" / "gpt2-ioi-mini"

import cscrub  # noqa: E402  (found through $PYTHONPATH)


def plain_environment():
    """The environment without what makes a sanitizer build's runtime load into every child (torch under
    AddressSanitizer is neither needed nor fast)."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    return env


def run_cli(*arguments, check=True):
    """Runs the cscrub command; returns the CompletedProcess (stdout and stderr as text)."""
    result = subprocess.run([str(CLI), *map(str, arguments)], capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"cscrub {' '.join(map(str, arguments))} exited {result.returncode}:\n{result.stderr}")
    return result


def run_reference(model_dir, tokens, out_dir, patches=(), hooks=None):
    """tools/reference_forward.py (PyTorch): writes logits.npy and <hook>.npy into out_dir."""
    pathlib.Path(out_dir).mkdir(parents=True, exist_ok=True)
    tokens_file = pathlib.Path(out_dir) / "tokens.npy"
    np.save(tokens_file, np.asarray(tokens, dtype=np.int64))
    command = ["/usr/bin/python3", str(SOURCE_DIR / "tools" / "reference_forward.py"), "--model", str(model_dir),
               "--tokens", str(tokens_file), "--out", str(out_dir)]
    for spec in patches:
        command += ["--patch", spec]
    if hooks is not None:
        command += ["--hooks", *hooks]
    subprocess.run(command, check=True, env=plain_environment(), capture_output=True)


def make_random_model(directory, *arguments):
    subprocess.run(["/usr/bin/python3", str(SOURCE_DIR / "tools" / "make_random_model.py"), str(directory),
                    *map(str, arguments)], check=True, env=plain_environment(), capture_output=True)
    return directory


def read_json(path):
    with open(path) as file:
        return json.load(file)


def assert_close(actual, expected, name):
    """The parity tests' tolerance (tests/io/test_forward_parity.cpp): |a - b| <= 1e-3 + 1e-4 |b|; equal
    infinities (masked attention scores) agree."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{name}: shape {actual.shape}, reference {expected.shape}"
    both_infinite = np.isinf(actual) & np.isinf(expected) & (actual == expected)
    with np.errstate(invalid="ignore"):  # inf - inf where both_infinite: replaced by 0
        difference = np.where(both_infinite, 0.0, np.abs(actual.astype(np.float64) - expected))
    bound = 1e-3 + 1e-4 * np.abs(np.where(both_infinite, 0.0, expected))
    worst = np.nanmax(difference) if difference.size else 0.0
    assert np.all(difference <= bound), f"{name}: max |diff| {worst:.3g}"


@pytest.fixture(scope="session")
def model():
    return cscrub.Model()


@pytest.fixture(scope="session")
def random_model_dir(tmp_path_factory):
    """A small random GPT-2 (3 layers, 4 heads, d_model 64, vocab 97) without tokenizer files."""
    return make_random_model(tmp_path_factory.mktemp("random-model"), "--layers", 3, "--heads", 4, "--d-model", 64,
                             "--vocab", 97, "--n-ctx", 32, "--seed", 7)
