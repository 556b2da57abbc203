"""`cmake --install BUILD --prefix P` gives a cscrub that runs from anywhere: the install, moved to another
directory, runs the README's main command and `import cscrub`, and (traced with strace) opens nothing in the source
or build tree."""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, plain_environment

PYTHON_DIR = f"lib/python{sys.version_info.major}.{sys.version_info.minor}/dist-packages"


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """The install, staged in one directory, then moved to another."""
    root = tmp_path_factory.mktemp("install")
    staged = root / "staged"
    subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", str(staged)], check=True, capture_output=True)
    moved = root / "moved" / "elsewhere"
    moved.parent.mkdir()
    shutil.move(staged, moved)
    return moved


def environment_without_trees():
    """No variable that names the trees or overrides the bundled files."""
    env = plain_environment()
    for variable in ("CSCRUB_MODEL", "CSCRUB_DATASETS_DIR", "PYTHONPATH", "CSCRUB_BUILD_DIR", "CSCRUB_CLI"):
        env.pop(variable, None)
    return env


def traced(command, trace, **kwargs):
    """Runs `command` under strace, recording every file name it passes to the kernel."""
    return subprocess.run(["strace", "-f", "-qq", "-e", "trace=%file", "-o", str(trace), *map(str, command)],
                          capture_output=True, text=True, **kwargs)


def paths_in_trees(trace):
    trees = {str(SOURCE_DIR.resolve()), str(BUILD_DIR.resolve())}
    touched = set()
    for path in re.findall(r'"((?:[^"\\]|\\.)*)"', pathlib.Path(trace).read_text()):
        if any(path == tree or path.startswith(tree + "/") for tree in trees):
            touched.add(path)
    return sorted(touched)


def test_the_install_holds_the_program_the_module_and_the_bundled_files(installed):
    assert os.access(installed / "bin" / "cscrub", os.X_OK)
    assert list((installed / PYTHON_DIR).glob("cscrub.*.so"))
    for bundled in ("models/gpt2-ioi-mini/config.json", "models/gpt2-ioi-mini/model.safetensors",
                    "models/gpt2-ioi-mini/encoder.json", "models/gpt2-ioi-mini/vocab.bpe", "datasets/induction.toml",
                    "datasets/ioi_paper_vocabulary.toml", "hypotheses/gpt2-ioi-mini/ioi.toml"):
        assert (installed / "share" / "cscrub" / bundled).is_file(), bundled


def test_the_moved_install_runs_the_readme_command_without_the_trees(installed, tmp_path):
    hypotheses = sorted((installed / "share" / "cscrub" / "hypotheses" / "gpt2-ioi-mini").glob("*.toml"))
    command = [installed / "bin" / "cscrub", "compare", *hypotheses, "--n", "24", "--seeds", "1", "--quiet",
               "--plot", "compare.svg", "--json", "compare.json"]
    result = traced(command, tmp_path / "trace", cwd=tmp_path, env=environment_without_trees())
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "compare.svg").stat().st_size > 0
    assert str(installed / "share" / "cscrub" / "models" / "gpt2-ioi-mini") in (tmp_path / "compare.json").read_text()
    assert paths_in_trees(tmp_path / "trace") == []


def test_the_moved_install_imports_with_one_pythonpath(installed, tmp_path):
    env = environment_without_trees()
    env["PYTHONPATH"] = str(installed / PYTHON_DIR)
    if "LD_PRELOAD" in os.environ:  # a sanitizer build's module needs its runtimes loaded before the interpreter
        env["LD_PRELOAD"] = os.environ["LD_PRELOAD"]
    script = ("import cscrub; model = cscrub.Model(); print(model.path); "
              "print(model.to_string(int(model('Then, Mary and John went to the store. John gave a drink to')"
              "[0, -1].argmax()))); print(len(cscrub.dataset('induction', 4, 1)))")
    result = traced([sys.executable, "-c", script], tmp_path / "trace", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [str(installed / "share" / "cscrub" / "models" / "gpt2-ioi-mini"), " Mary",
                                          "4"]
    assert paths_in_trees(tmp_path / "trace") == []
