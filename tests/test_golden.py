"""The reference case: written by the command line, replayed by this code."""

import subprocess
import sys

import numpy as np
import pytest

from imb_ref import golden


def test_cli_writes_a_case_that_replays(tmp_path, run_py):
    path = tmp_path / "case.npz"
    res = subprocess.run([sys.executable, run_py, "golden", str(path),
                          "--hidden", "6,5", "--samples", "3", "--batch-size", "4",
                          "--betas", "0.01", "--gammas", "1,0.5,2", "--seed", "1"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    case = golden.read_case(str(path))
    assert int(case["format_version"]) == 1
    assert case["x"].shape == (4, 12) and case["x"].dtype == np.float64
    assert case["u_1"].shape == (4, 1, 3, 6) and case["u_2"].shape == (4, 3, 3, 5)
    assert case["W_2"].shape == (5, 2) and case["vcr"].shape == (3,) and case["kl"].shape == (2,)
    np.testing.assert_array_equal(case["gammas"], [1.0, 0.5, 2.0])
    diffs = golden.replay(case)
    # Same code, same float64 inputs: the replay is bit-for-bit.
    assert max(diffs.values()) == 0.0, diffs
    assert set(k for k in case if k.startswith("grad_")) == {
        "grad_W_0", "grad_W_1", "grad_W_2", "grad_b_0", "grad_b_1", "grad_b_2",
        "grad_rho_1", "grad_rho_2"}


def test_replay_detects_a_tampered_case(tmp_path, run_py):
    path = tmp_path / "case.npz"
    subprocess.run([sys.executable, run_py, "golden", str(path), "--hidden", "4",
                    "--samples", "2", "--batch-size", "3"], check=True, capture_output=True,
                   timeout=120)
    case = golden.read_case(str(path))
    case["grad_W_0"] = case["grad_W_0"] + 1e-6
    assert golden.replay(case)["grad_W_0"] > 5e-7


@pytest.mark.parametrize("where, needle", [
    ("folder", "is a folder; give a file name"),
    ("missing/case.npz", "does not exist"),
])
def test_export_to_a_bad_path_is_one_line_and_leaves_nothing(tmp_path, run_py, where, needle):
    target = tmp_path / where
    if where == "folder":
        target.mkdir()
    res = subprocess.run([sys.executable, run_py, "golden", str(target), "--hidden",
                          "4", "--samples", "2", "--batch-size", "3"], capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and needle in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == (["folder"] if where == "folder" else [])
