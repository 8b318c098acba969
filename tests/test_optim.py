"""The hand-written optimisers: the same updates as torch.optim (when torch is there),
descent on a quadratic, clipping, and frozen parameters."""

import numpy as np
import pytest

from imb_ref.optim import OPTIMIZERS, clip_global_norm, make_optimizer

HYPER = {"sgd": dict(lr=0.1, momentum=0.9), "adam": dict(lr=0.01), "adamax": dict(lr=0.01),
         "adadelta": dict(lr=1.0, rho=0.9), "adagrad": dict(lr=0.1), "rmsprop": dict(lr=0.01)}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_matches_torch_optim(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(6)]
    hyper = dict(HYPER[name])
    ours = make_optimizer(name, **hyper)
    params = {"w": w0.copy()}
    for g in grads:
        ours.step(params, {"w": g.copy()})
    tw = torch.tensor(w0.copy(), requires_grad=True)
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamax": torch.optim.Adamax,
           "adadelta": torch.optim.Adadelta, "adagrad": torch.optim.Adagrad,
           "rmsprop": torch.optim.RMSprop}[name]
    topt = cls([tw], **hyper)
    for g in grads:
        tw.grad = torch.tensor(g)
        topt.step()
    # float64 updates of the same formulas: equal to rounding.
    np.testing.assert_allclose(params["w"], tw.detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_descends_a_quadratic(name):
    hyper = dict(HYPER[name], lr=max(HYPER[name]["lr"], 0.1))
    opt = make_optimizer(name, **hyper)
    params = {"w": np.array([3.0, -2.0])}
    start = float((params["w"] ** 2).sum())
    for _ in range(2000):   # Adadelta's first steps are ~sqrt(eps): give it time
        opt.step(params, {"w": 2 * params["w"]})
    assert float((params["w"] ** 2).sum()) < 0.1 * start


def test_clip_and_frozen():
    grads = {"a": np.array([3.0, 0.0]), "b": np.array([0.0, 4.0]), "f": np.array([100.0])}
    norm = clip_global_norm(grads, 1.0, frozen={"f"})
    assert float(norm) == pytest.approx(5.0)
    np.testing.assert_allclose(np.concatenate([grads["a"], grads["b"]]), [0.6, 0, 0, 0.8])
    opt = make_optimizer("adam", 0.1)
    params = {"a": np.ones(2), "f": np.ones(1)}
    opt.step(params, {"a": np.ones(2), "f": np.ones(1)}, frozen={"f"})
    assert params["f"][0] == 1.0 and params["a"][0] < 1.0
