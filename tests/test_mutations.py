"""Tests for the bugs a mutation run (plausible bugs planted one at a time into a copy of
the code) showed the suite let through. Each test says which planted bug it catches."""

import numpy as np
import pytest

from imb_ref import golden
from imb_ref.nn.bernoulli import bernoulli_forward
from imb_ref.nn.softmax import log_softmax_at_backward, log_softmax_at_forward
from imb_ref.training.run_state import RunState

TWIN_CASE = golden.__file__.replace("imb_ref/golden.py", "tests/data/twin_case.npz")


def test_a_unit_never_fires_where_its_probability_is_zero():
    """z = 1[u < p], strict: u is uniform on [0, 1) and may be exactly 0, and p =
    sigmoid(a) is exactly 0 in float64 below a = -745. Planted bug: u <= p (a unit with
    p = 0 fires whenever u = 0); also u = p exactly must not fire."""
    a = np.array([[[-800.0, 0.0]]])                  # p = 0 and p = 0.5 exactly
    u = np.array([[[[0.0, 0.5], [0.0, 0.25]]]])       # (B=1, P=1, M=2, n=2)
    z, cache = bernoulli_forward(a, u)
    assert cache.p[0, 0, 0] == 0.0 and cache.p[0, 0, 1] == 0.5
    assert z.tolist() == [[[0.0, 0.0], [0.0, 1.0]]]


def test_log_softmax_is_exact_at_logits_that_would_overflow_exp():
    """Logits of 1000 and 999: exp overflows float64, so an implementation that does not
    subtract the maximum returns inf or nan. log softmax is -log(1 + e^-1) and
    -1 - log(1 + e^-1), exactly (to float64 rounding, 1e-15); the gradient too.
    Planted bug: the log-sum-exp without its shift by the maximum."""
    logits = np.array([[[1000.0, 999.0], [-1000.0, -999.0]]])       # (B=1, N=2, C=2)
    y = np.array([0])
    ell, cache = log_softmax_at_forward(logits, y)
    first = -np.log1p(np.exp(-1.0))
    np.testing.assert_allclose(ell, [[first, -1.0 + first]], rtol=0, atol=1e-13)
    d = log_softmax_at_backward(np.ones((1, 2)), cache)
    s = 1.0 / (1.0 + np.exp(-1.0))                 # softmax of the larger logit
    np.testing.assert_allclose(d[0, 0], [1 - s, -(1 - s)], rtol=0, atol=1e-13)
    np.testing.assert_allclose(d[0, 1], [1 - (1 - s), -s], rtol=0, atol=1e-13)
    assert np.all(np.isfinite(d))


def test_a_resumed_run_keeps_its_best_validation_snapshot():
    """A checkpoint holds the current parameters and, separately, the best-validation
    epoch's (the parameters early stopping will test). Resuming must put back both.
    Planted bug: the resume replaces the best snapshot with the current parameters."""
    class Opt:
        state = {}
    params = {"W_0": np.zeros((2, 2))}
    best = {"W_0": np.ones((2, 2))}
    saved = (params, best, {"t": 3, "m_W_0": np.zeros((2, 2))},
             {"epoch": 7, "best_epoch": 4, "best_val": 0.1})
    got_params, got_best, meta = RunState(None).init_or_resume(None, 0, np.float64, np,
                                                               Opt(), saved)
    assert np.array_equal(got_params["W_0"], params["W_0"])
    assert np.array_equal(got_best["W_0"], best["W_0"])      # not the current parameters
    assert meta["best_epoch"] == 4


def test_the_checker_names_the_first_disagreeing_tensor_not_the_last(tmp_path, capsys):
    """Two planted errors, in a_1 (early in the computation) and grad_W_0 (its end): the
    check names a_1, where the bug begins. Planted bug: the last disagreement named."""
    case = golden.read_case(TWIN_CASE)
    case["a_1"] = case["a_1"].copy()
    case["a_1"][0, 0, 0] += 1e-3
    case["grad_W_0"] = case["grad_W_0"].copy()
    case["grad_W_0"][0, 0] += 1e-3
    path = tmp_path / "two.npz"
    np.savez(path, **case)
    assert golden.main(["--check", str(path)]) == 1
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("first disagreement: a_1 "), last


def test_early_stopping_counts_a_tie_as_no_improvement():
    """Validation errors 0.5, 0.4, 0.4, 0.45 with patience 2: the best epoch is 2 (the
    tie at epoch 3 does not replace it, so its parameters are the ones tested), and the
    run stops after epoch 4, the second epoch without a strict improvement (the
    authors' rule; README's SFNN seed 1 was stopped by such a tie). Planted bug: a tie
    counted as an improvement (<=) moves the best epoch to 3 and the stop to 5."""
    from imb_ref.training.run_state import EarlyStopping
    stop = EarlyStopping(patience=2, stages=1, best=None)
    meta = {"best_val": None, "best_epoch": None, "bad_epochs": 0}
    stopped = []
    for epoch, err in enumerate([0.5, 0.4, 0.4, 0.45, 0.45], start=1):
        params = {"w": np.full(1, float(epoch))}
        if stop.update(meta, {"epoch": epoch, "val_error": err}, 1, params):
            stopped.append(epoch)
            break
    assert meta["best_epoch"] == 2 and stop.best["w"][0] == 2.0
    assert stopped == [4]


def test_reinforces_baseline_leaves_out_the_examples_own_loss():
    """Each example's weight is its loss minus the mean loss of the *other* examples,
    over B: with losses (1, 2, 6), (1 - 4, 2 - 3.5, 6 - 1.5) / 3. A baseline that
    includes the example's own loss (the batch mean) depends on its own samples and
    biases the estimator. Planted bug: the batch mean as the baseline."""
    from imb_ref.nn.bernoulli import reinforce_weights
    w = reinforce_weights(np.array([1.0, 2.0, 6.0]))
    np.testing.assert_allclose(w, np.array([-3.0, -1.5, 4.5]) / 3, rtol=0, atol=1e-15)
    # Leave-one-out: an example's weight moves one-for-one with its own loss / B.
    bumped = reinforce_weights(np.array([1.0, 2.0, 7.0]))
    # (float64 subtraction of numbers near 2: exact to a few 1e-16)
    assert bumped[2] - w[2] == pytest.approx(1.0 / 3, abs=1e-15)
