"""The reference case: written by the command line, replayed by this code."""

import os
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
    assert int(case["format_version"]) == 2
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


TWIN_CASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "twin_case.npz")


def test_the_committed_twin_case_replays():
    """tests/data/twin_case.npz was written by the PyTorch twin (autograd, not imb_ref):
    imb_ref recomputes its loss, terms and every gradient on every machine, PyTorch or
    not. float64 through a few dozen operations in another order: 1e-12."""
    case = golden.read_case(TWIN_CASE)
    assert case["u_2"].shape == (4, 3, 3, 4)             # 6-5-4-3, M = 3, B = 4
    diffs = golden.replay(case)
    assert len(diffs) == 3 + 8 and max(diffs.values()) < 1e-12, diffs
    assert int(case["format_version"]) == 2 and case["da_1"].shape == (4, 1, 5)
    assert all(np.abs(case[k]).max() > 1e-3 for k in case if k.startswith("grad_"))


def test_the_committed_twin_case_is_the_twins_output():
    """Where PyTorch is installed, the twin rewrites the same case: the committed file is
    its output, not imb_ref's."""
    pytest.importorskip("torch")
    from imb_ref import twin
    fresh = twin.reference_case(**twin.TWIN_CASE)
    case = golden.read_case(TWIN_CASE)
    assert sorted(fresh) == sorted(case)
    for k in case:
        np.testing.assert_allclose(case[k], fresh[k], rtol=1e-14, atol=1e-15, err_msg=k)


# ---- golden --check: the first tensor that disagrees ---------------------------------------
FORMAT_1_CASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data",
                             "twin_case_format1.npz")


def _check(path, capsys):
    from imb_ref import cli as run_module
    rc = run_module.main(["golden", "--check", str(path)])
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def test_the_twins_case_passes_the_check(capsys):
    """Every one of the 27 tensors the PyTorch twin wrote agrees with imb_ref to float64
    rounding (tolerance 1e-9; measured: 1.5e-13 at worst, a near-zero gradient entry)."""
    rc, out, err = _check(TWIN_CASE, capsys)
    assert rc == 0, out + err
    assert "all 27 tensors agree" in out and "format 2, float64, B = 4, M = 3" in out
    rows, rtol = golden.check(golden.read_case(TWIN_CASE))
    assert rtol == 1e-9 and max(r[3] for r in rows) < 1e-12


@pytest.mark.parametrize("key, index, delta, what", [
    ("a_1", (2, 0, 3), 1e-4, "layer 1 pre-activations"),
    ("z_2", (1, 4, 2), None, "layer 2 samples"),
    ("logits", (0, 5, 1), 3e-3, "leaf logits"),
    ("KL_1", (), 1e-6, "compression term KL_1"),
    ("grad_W_0", (5, 4), 1e-5, "gradient of W_0"),
])
def test_a_planted_error_is_caught_at_exactly_that_tensor(tmp_path, capsys, key, index,
                                                           delta, what):
    case = golden.read_case(TWIN_CASE)
    planted = case[key].copy()
    if delta is None:
        planted[index] = 1 - planted[index]                      # flip one sample
    else:
        planted[index] = planted[index] + delta
    case[key] = planted
    path = tmp_path / "bad.npz"
    np.savez(path, **case)
    rc, out, _ = _check(path, capsys)
    assert rc == 1
    first = out.strip().splitlines()[-1]
    assert first.startswith(f"first disagreement: {key} ({what}), max rel diff ")
    if index:
        assert f" at {list(index)}" in first
    else:
        assert " at " not in first                        # a scalar has no position
    if key.startswith("z_"):                              # a flipped sample says so
        assert first.endswith("1 of 144 entries flipped, smallest |u - p| among them "
                              f"{first.split('among them ')[1].split(':')[0]}: not a "
                              "rounding tie, the probabilities or the comparison differ")
    bad = [line.split()[0] for line in out.splitlines() if "DISAGREES" in line]
    assert bad == [key]                    # the case's other tensors are its own, intact


@pytest.mark.parametrize("damage, message", [
    (lambda c: c.pop("da_2"), "missing key 'da_2' (format 2 holds it)"),
    (lambda c: c.pop("u_1"), "missing key 'u_1'"),
    (lambda c: c.__setitem__("p_1", c["p_1"][:, :, :3]), "p_1 has shape (4, 1, 3), "
                                                          "expected (4, 1, 5)"),
    (lambda c: c.__setitem__("y", c["y"].astype(np.float64)),
     "y has dtype float64, expected an integer type"),
    (lambda c: c.__setitem__("logits", c["logits"].astype(np.complex128)),
     "logits has dtype complex128, expected float64 or float32"),
    (lambda c: c.__setitem__("format_version", np.array(7)), "format_version 7 is not one of"),
])
def test_a_malformed_case_is_one_line_and_exit_2(tmp_path, capsys, damage, message):
    case = golden.read_case(TWIN_CASE)
    damage(case)
    path = tmp_path / "malformed.npz"
    np.savez(path, **case)
    rc, out, err = _check(path, capsys)
    assert rc == 2 and err.count("\n") == 1 and message in err, err


def test_a_float32_case_is_judged_at_float32_tolerance(tmp_path):
    """A framework computing in float32: every float of the twin's case rounded to
    float32 passes (the inputs' rounding alone moves the recomputation by up to 1.7e-5
    relative, in a gradient with cancellation; the tolerance is 1e-3); an error of one
    part in a hundred in one tensor is still caught."""
    case = golden.read_case(TWIN_CASE)
    case32 = {k: v.astype(np.float32) if v.dtype == np.float64 else v for k, v in case.items()}
    rows, rtol = golden.check(case32)
    assert rtol == 1e-3 and all(r[5] for r in rows)
    assert max(r[3] for r in rows) < 1e-4
    case32["da_1"] = case32["da_1"] * np.float32(1.01)
    rows, _ = golden.check(case32)
    assert [r[0] for r in rows if not r[5]] == ["da_1"]


def test_a_format_1_case_still_reads_replays_and_checks(capsys):
    """Format 1 (outputs alone) is a subset of format 2: it replays, and the check
    compares the 11 tensors it holds."""
    case = golden.read_case(FORMAT_1_CASE)
    assert int(case["format_version"]) == 1 and "a_1" not in case
    assert max(golden.replay(case).values()) < 1e-12
    rc, out, _ = _check(FORMAT_1_CASE, capsys)
    assert rc == 0 and "all 11 tensors agree" in out


def test_the_format_2_reference_is_the_training_code():
    """golden.compute, written with the nn/ pairs in Algorithm 1's order, gives exactly
    what sbn.imb_objective (what training runs) gives: loss, terms and gradients."""
    case = golden.read_case(TWIN_CASE)
    assert max(golden.replay(golden.make_case(
        golden.case_params(case), case["x"], case["y"],
        [case[f"u_{l}"] for l in (1, 2)], 3, case["gammas"], case["betas"])).values()) == 0.0


def test_a_case_records_its_estimator_and_a_twin_of_another_is_told_by_name(tmp_path,
                                                                            capsys):
    """golden writes the estimator into the case (Raiko by default, the 12-bit task's
    exact default notwithstanding); a straight-through case labelled Raiko disagrees
    first at da_L, and the check names the estimator its gradients do match."""
    from imb_ref import cli
    raiko, st = tmp_path / "raiko.npz", tmp_path / "st.npz"
    tiny = ["--hidden", "5,4", "--samples", "3", "--batch-size", "4"]
    assert cli.main(["golden", str(raiko)] + tiny) == 0
    assert cli.main(["golden", str(st), "--estimator", "st"] + tiny) == 0
    assert str(np.load(raiko)["estimator"]) == "raiko"
    case = dict(np.load(st))
    assert str(case["estimator"]) == "st"
    rc, out, _ = _check(st, capsys)
    assert rc == 0 and "estimator st" in out
    case["estimator"] = np.array("raiko")
    np.savez(tmp_path / "st_as_raiko.npz", **case)
    rc, out, _ = _check(tmp_path / "st_as_raiko.npz", capsys)
    assert rc == 1 and "first disagreement: da_2 " in out
    assert "every tensor agrees with the st estimator instead" in out
    for name in ("exact", "reinforce"):
        assert cli.main(["golden", str(tmp_path / "x.npz"), "--estimator", name] + tiny) == 2
        assert "a case records a pathwise estimator" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()


def test_the_default_case_catches_a_twin_that_forgets_the_gammas_or_reverses_the_betas(
        tmp_path, capsys):
    """The default case weighs each layer differently (gamma_l = 2^-l, beta_l = l/10), so
    a twin that uses gamma = 1 throughout, or the betas in reverse, writes a loss and
    gradients that disagree."""
    from imb_ref import cli
    path = tmp_path / "case.npz"
    assert cli.main(["golden", str(path), "--hidden", "5,4", "--samples", "3",
                     "--batch-size", "4"]) == 0
    case = golden.read_case(path)
    assert case["gammas"].tolist() == [1.0, 0.5, 0.25] and case["betas"].tolist() == [0.1, 0.2]
    inputs = {k: v for k, v in case.items() if k in ("x", "y", "M", "format_version",
                                                     "estimator")
              or k.split("_")[0] in ("W", "b", "rho", "u")}
    for wrong in ({"gammas": np.ones(3), "betas": case["betas"]},
                  {"gammas": case["gammas"], "betas": case["betas"][::-1].copy()}):
        L = 2
        outputs = golden.compute({k: v for k, v in inputs.items() if k.split("_")[0] in
                                  ("W", "b", "rho")}, case["x"], case["y"],
                                 [case[f"u_{l}"] for l in range(1, L + 1)], 3,
                                 wrong["gammas"], wrong["betas"])
        twin = {**inputs, **outputs, "gammas": case["gammas"], "betas": case["betas"]}
        np.savez(tmp_path / "twin.npz", **twin)
        rc, out, _ = _check(tmp_path / "twin.npz", capsys)
        assert rc == 1, out


def test_a_case_without_an_estimator_key_is_raikos():
    """Cases written before the estimator was recorded (the committed twin case among
    them) are Raiko's, and still check."""
    case = golden.read_case(TWIN_CASE)
    assert "estimator" not in case and golden.case_estimator(case) == "raiko"
    rows, _ = golden.check(case)
    assert all(r[5] for r in rows)


def _saved(tmp_path, case, name="planted.npz"):
    path = tmp_path / name
    np.savez(path, **case)
    return path


def test_transposed_weights_are_named_with_a_layout_hint(tmp_path, capsys):
    """Every W saved in nn.Linear's (out, in) layout: the first matrix is named, with the
    hint; only W_1 transposed: W_1 is named, not W_0 (the widths are read from x
    forward, in the order of the computation)."""
    case = golden.read_case(TWIN_CASE)
    every = {**case, **{k: v.T.copy() for k, v in case.items() if k.startswith("W_")}}
    rc, _, err = _check(_saved(tmp_path, every), capsys)
    assert rc == 2 and "W_0 has shape (5, 6), expected (6, n_1)" in err
    assert "it looks transposed; W is (in, out), so save nn.Linear's weight.T" in err
    one = {**case, "W_1": case["W_1"].T.copy()}
    rc, _, err = _check(_saved(tmp_path, one, "one.npz"), capsys)
    assert rc == 2 and "W_1 has shape (4, 5), expected (5, n_2)" in err
    assert "looks transposed" in err


def test_a_float32_twin_whose_samples_differ_only_at_rounding_ties_agrees(tmp_path, capsys):
    """A float32 twin compares u < p in float32: where u is within float32 rounding of
    p, its sample may differ from float64's. Such flips are reported as ties, not as a
    bug; a flip far from a tie is a bug, with the count and the smallest gap."""
    case = {k: (v.astype(np.float32) if v.dtype == np.float64 else v)
            for k, v in golden.read_case(TWIN_CASE).items()}
    p = np.asarray(case["p_1"], dtype=np.float64)
    u = np.array(case["u_1"], dtype=np.float64)
    u[0, 0, 0, 0] = p[0, 0, 0] + 1e-8           # within float32 rounding of p
    case["u_1"] = u.astype(np.float32)
    z = np.array(case["z_1"])
    z[0, 0, 0] = 1 - z[0, 0, 0]                  # the twin's float32 comparison went the other way
    case["z_1"] = z
    rc, out, _ = _check(_saved(tmp_path, case), capsys)
    assert "z_1" in out and "ties within the case's rounding, not a bug" in out
    assert "first disagreement: z_1" not in out
    far = dict(case)
    z = np.array(case["z_1"])
    z[1, 0, 1] = 1 - z[1, 0, 1]
    far["z_1"] = z
    rc, out, _ = _check(_saved(tmp_path, far, "far.npz"), capsys)
    assert rc == 1 and "first disagreement: z_1 " in out
    assert "2 of 60 entries flipped" in out and "not a rounding tie" in out


def test_a_scalar_with_its_sign_flipped_says_so(tmp_path, capsys):
    case = golden.read_case(TWIN_CASE)
    case["KL_1"] = -case["KL_1"]
    rc, out, _ = _check(_saved(tmp_path, case), capsys)
    last = out.strip().splitlines()[-1]
    assert rc == 1 and last.startswith("first disagreement: KL_1 ")
    assert "the negative of ours: a sign?" in last and " at []" not in last


def test_the_committed_forgot_gammas_case_is_what_its_script_writes():
    """tests/data/forgot_gammas.npz (README's example of a wrong twin) holds the twin's
    inputs and the tensors of a twin that uses every gamma = 1: regenerated here, equal
    array for array; the check names loss, the first tensor the gammas reach."""
    from forgot_gammas import DATA, forgot_gammas_case
    fresh = forgot_gammas_case()
    committed = golden.read_case(os.path.join(DATA, "forgot_gammas.npz"))
    assert set(fresh) == set(committed)
    for key in fresh:
        np.testing.assert_array_equal(np.asarray(fresh[key]), committed[key], err_msg=key)
    rows, _ = golden.check(committed)
    assert [r[0] for r in rows if not r[5]][0] == "loss"
