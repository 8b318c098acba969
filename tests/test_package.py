"""`pip install .`: the package installs into a fresh virtual environment with its
runtime dependencies alone (numpy, scipy, tqdm) and checks a reference case there, from
outside the repository, as a framework author would use it."""

import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
TWIN_CASE = os.path.join(ROOT, "tests", "data", "twin_case.npz")


@pytest.mark.slow
def test_the_package_installs_into_a_fresh_venv_and_checks_a_case(tmp_path):
    src = tmp_path / "src"             # a copy: building writes build/ and *.egg-info
    src.mkdir()
    shutil.copytree(os.path.join(ROOT, "imb_ref"), src / "imb_ref",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    (src / "tests" / "data").mkdir(parents=True)      # the cases README's recipe checks
    for name in ("twin_case.npz", "forgot_gammas.npz"):
        shutil.copy(os.path.join(ROOT, "tests", "data", name), src / "tests" / "data" / name)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    res = subprocess.run([python, "-m", "pip", "install", "-q", str(src)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    away = tmp_path / "elsewhere"      # not the repository: the installed copy is used
    away.mkdir()
    res = subprocess.run([str(venv / "bin" / "imb-ref-golden"), "--check", TWIN_CASE],
                         capture_output=True, text=True, timeout=300, cwd=away)
    assert res.returncode == 0 and "all 27 tensors agree" in res.stdout, res.stdout + res.stderr
    # The whole command line as a console command, and as python -m imb_ref.
    res = subprocess.run([str(venv / "bin" / "imb-ref"), "golden", "--check", TWIN_CASE],
                         capture_output=True, text=True, timeout=300, cwd=away)
    assert res.returncode == 0 and "all 27 tensors agree" in res.stdout, res.stdout + res.stderr
    res = subprocess.run([str(venv / "bin" / "imb-ref"), "--help"], capture_output=True,
                         text=True, timeout=300, cwd=away)
    assert res.returncode == 0 and "  report " in res.stdout, res.stdout + res.stderr
    res = subprocess.run([python, "-m", "imb_ref", "golden", "--check", TWIN_CASE],
                         capture_output=True, text=True, timeout=300, cwd=away)
    assert res.returncode == 0 and "all 27 tensors agree" in res.stdout, res.stdout + res.stderr
    probe = ("import imb_ref, importlib.util, os; "
             "assert os.path.exists(os.path.join(os.path.dirname(imb_ref.__file__), 'gpu', "
             "'kernels', 'tree.cu')); "
             "assert importlib.util.find_spec('matplotlib') is None; "
             "from imb_ref.experiments.infoplane.report import plot; "
             "assert plot({}, [], 'fig.png', 10) is None; print(imb_ref.__file__)")
    res = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=300,
                         cwd=away)
    assert res.returncode == 0, res.stderr
    assert str(venv) in res.stdout                                 # the installed copy
    assert "matplotlib is not installed, so fig.png was not written" in res.stderr
    assert not os.path.exists(away / "fig.png")
    # The README's cross-checking recipe, run as written (offline: the 12-bit task) in
    # the checkout's copy, with this venv's commands first on the PATH.
    import re
    readme = open(os.path.join(ROOT, "README.md")).read()
    section = readme.split("## Cross-checking", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    env.pop("PYTHONPATH", None)
    outputs = []
    for line in block.splitlines():
        command = line.split("#")[0].strip()
        if command:
            res = subprocess.run(command, shell=True, capture_output=True, text=True,
                                 timeout=600, cwd=src, env=env)
            assert res.returncode == 0, (command, res.stdout[-2000:] + res.stderr[-2000:])
            outputs.append(res.stdout)
    assert "all 27 tensors agree" in outputs[2] and "all 27 tensors agree" in outputs[3]
    assert "first disagreement: loss (the objective)" in outputs[4], outputs[4]
    assert "exit 1: a twin that forgot the gammas" in outputs[4]
    # Without PyTorch (not in the runtime dependencies) the twin and the benchmark's
    # PyTorch side each say so in one line.
    res = subprocess.run([python, "-m", "imb_ref.twin", "case.npz"], capture_output=True,
                         text=True, timeout=300, cwd=away)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert 'pip install "imb_ref[twin]"' in res.stderr


def _installed_copy(tmp_path):
    """`pip install --no-deps` of a copy of the package into a folder of its own (the
    running interpreter's other packages, PyTorch among them, stay visible)."""
    src = tmp_path / "src"
    src.mkdir()
    shutil.copytree(os.path.join(ROOT, "imb_ref"), src / "imb_ref",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), src / name)
    site = tmp_path / "site"
    res = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                          "--target", str(site), str(src)], capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    return site


@pytest.mark.slow
def test_an_installed_package_benchmarks_against_its_own_twin(tmp_path):
    """The benchmark's PyTorch side is the package's twin (imb_ref/twin.py), so an
    installed copy times PyTorch from outside the repository (`pip install
    ".[twin]"`), with nothing from tests/."""
    pytest.importorskip("torch")
    site = _installed_copy(tmp_path)
    away = tmp_path / "elsewhere"
    away.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    res = subprocess.run([sys.executable, "-m", "imb_ref.experiments.bench", "--shapes",
                          "mnist", "--impl", "numpy,torch-eager", "--steps", "1"],
                         capture_output=True, text=True, timeout=900, cwd=away, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "torch-eager" in res.stdout
    res = subprocess.run([sys.executable, "-c", "import imb_ref.twin as t; print(t.__file__)"],
                         capture_output=True, text=True, timeout=300, cwd=away, env=env)
    assert res.stdout.startswith(str(site)), res.stdout + res.stderr


def test_the_extras_are_pinned_as_ci_pins_them():
    """pyproject's [twin] and [gpu] extras name the versions .ci/run installs, so what a
    user installs is what CI tested."""
    import re
    ci = open(os.path.join(ROOT, ".ci", "run")).read()
    toml = open(os.path.join(ROOT, "pyproject.toml")).read()
    for package in ("torch", "cupy-cuda12x"):
        pinned = re.search(rf"pip install -q {package}==([\w.]+)", ci).group(1)
        assert f'"{package}=={pinned}"' in toml, package
