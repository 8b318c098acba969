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


# Slow: every end-to-end test that starts run.py in a subprocess, and these in-process
# tests of more than about a second (measured on the 2-core CPU machine). CI runs them
# all; `python -m pytest -m "not slow"` is the quick unit suite.
SLOW = {
    "test_bench.py::test_bench_writes_records",
    "test_bench.py::test_bench_refuses_an_implementation_it_cannot_run",
    "test_synthetic12.py::test_stats_command",
    "test_synthetic12.py::test_statistics_near_the_original",
    "test_synthetic12.py::test_ranking_puts_near_rules_first",
    "test_attack.py::test_det_box_verification_and_kappa",
    "test_attack.py::test_linear_model_distortion_within_two_percent_of_the_exact_minimum",
    "test_attack.py::test_stochastic_successes_are_verified_and_the_single_sample_gap_is_reported",
    "test_attack.py::test_majority_decision_is_reported_beside_the_verified_rate",
    "test_infoplane.py::test_an_interrupted_pair_continues_from_its_checkpoint",
    "test_infoplane.py::test_exact_estimator_trains_on_the_exact_objective",
    "test_data_formats.py::test_debians_fashion_mnist_copied_into_the_cache",
    "test_real_data.py::test_real_fashion_mnist_from_the_debian_package",
    "test_theorem_3_1.py::test_minimisers_coincide_when_z2_is_sufficient",
    "test_theorem_3_1.py::test_minimisers_conflict_for_a_noisy_channel",
    "test_train.py::test_each_model_learns_real_digits",
    "test_fused.py::test_kernels_compile_for_hopper_without_local_memory",
    "test_fused.py::test_fused_equals_reference_at_the_paper_shape",
    "test_exact.py::test_theorem_3_2_exactly",
}


def pytest_collection_modifyitems(items):
    for item in items:
        name = f"{os.path.basename(item.fspath)}::{item.originalname}"
        if "run_py" in item.fixturenames or name in SLOW:
            item.add_marker(pytest.mark.slow)


def _repository_files():
    skip = {".git", "__pycache__", ".pytest_cache", ".hypothesis"}
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
