"""Shared fixtures: the array-module fixture `xp`, Hypothesis profiles, paths."""

import os
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

# CI: derandomized and without deadlines (a 2-core machine's timing is noisy).
settings.register_profile("ci", derandomize=True, deadline=None, max_examples=40,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=40)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def _cupy_or_none():
    try:
        import cupy
        if cupy.cuda.runtime.getDeviceCount() > 0:
            return cupy
    except Exception:
        pass
    return None


CUPY = _cupy_or_none()


@pytest.fixture(params=["numpy", "cupy"])
def xp(request, monkeypatch):
    """Run a numerical test under NumPy and under CuPy: the real one where a GPU is
    present, else the strict CPU stand-in of tests/cupy_standin.py (which refuses every
    implicit transfer to the host, as CuPy does)."""
    if request.param == "numpy":
        return np
    if CUPY is not None:
        return CUPY
    import cupy_standin
    return cupy_standin.install(monkeypatch)


@pytest.fixture
def run_py():
    return os.path.join(ROOT, "run.py")


# Slow: every end-to-end test that starts run.py in a subprocess (it asks for the run_py
# fixture) is marked here; the in-process tests of more than about a second (measured on
# the 2-core CPU machine) carry @pytest.mark.slow where they are defined. CI runs them
# all; `python -m pytest -m "not slow"` is the quick unit suite.


def pytest_collection_modifyitems(items):
    for item in items:
        if "run_py" in item.fixturenames:
            item.add_marker(pytest.mark.slow)


def _repository_files():
    # gpu-data/: the CIFAR10 files a developer copies in for the GPU check (.ci/gpu).
    skip = {".git", "__pycache__", ".pytest_cache", ".hypothesis", "gpu-data"}
    found = set()
    for folder, subfolders, files in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]
        # Source files are left out: a developer may edit while the tests run.
        found.update(os.path.relpath(os.path.join(folder, f), ROOT) for f in files
                     if not f.endswith((".py", ".md")))
    return found


@pytest.fixture(scope="session", autouse=True)
def tests_write_only_to_temporary_folders():
    """Fails the session if a test left a file in the repository (a run folder under
    runs/, a figure, a case): tests write under tmp_path only."""
    before = _repository_files()
    yield
    new = sorted(_repository_files() - before)
    assert not new, f"tests wrote into the repository: {new[:5]}"
