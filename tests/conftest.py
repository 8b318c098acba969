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
def xp(request):
    """Run a numerical test under NumPy and, where a GPU is present, under CuPy."""
    if request.param == "numpy":
        return np
    if CUPY is None:
        pytest.skip("CuPy with a visible GPU is not available here")
    return CUPY


@pytest.fixture
def run_py():
    return os.path.join(ROOT, "run.py")
