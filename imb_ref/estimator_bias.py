"""Measure the bias of the gradient estimators against the exact gradient.

On a network small enough to enumerate, the objective VCR_L + beta KL has a Monte Carlo
estimate whose expectation over the noise is the exact value (VCR_L is a plain mean over
leaves, KL_l a plain mean over parents), so the exact gradient (imb_ref.exact) is what
an unbiased estimator must average to. We average each estimator over many noise draws
and report its bias relative to the exact gradient's norm, with the standard error.

    python -m imb_ref.estimator_bias          # the numbers quoted in theory/estimators.md
"""

import numpy as np

from .exact import exact_objective
from .models import sbn

SIZES = (3, 3, 2, 2)          # 3 inputs, hidden 3-2, two classes
BETA = 0.1


def tiny_problem(seed=0):
    rng = np.random.default_rng(seed)
    params = sbn.init_params(SIZES, rng)
    for k in params:
        params[k] = params[k] + rng.normal(0.0, 1.0, size=params[k].shape)
    x = rng.random((4, SIZES[0]))
    y = np.array([0, 1, 1, 0])
    return params, x, y


def flat(grads, names):
    return np.concatenate([np.ravel(grads[k]) for k in names])


def measure(estimator, draws=20000, M=2, seed=0, parts=40):
    """(relative bias |mean - exact| / |exact|, its standard error, per-parameter bias)."""
    params, x, y = tiny_problem(seed)
    L = len(SIZES) - 2
    gammas = np.zeros(L + 1)
    gammas[L] = 1.0
    betas = np.full(L, BETA)
    w = np.full(len(y), 1.0 / len(y))
    exact = exact_objective(params, x, y, w, gammas, betas)["grads"]
    names = sorted(params)
    g_exact = flat(exact, names)
    rng = np.random.default_rng(seed + 1)
    xs, ys = np.tile(x, (draws, 1)), np.tile(y, draws)
    estimates = []
    step = xs.shape[0] // parts
    for j in range(parts):
        sl = slice(j * step, (j + 1) * step)
        u = sbn.sample_uniforms(rng, step, M, SIZES[1:-1], np.float64)
        out = sbn.imb_objective(params, xs[sl], ys[sl], u, M, gammas, betas, estimator)
        estimates.append(flat(out["grads"], names))
    estimates = np.array(estimates)
    mean = estimates.mean(axis=0)
    se = estimates.std(axis=0, ddof=1) / np.sqrt(parts)
    norm = np.linalg.norm(g_exact)
    bias = mean - g_exact
    return {"relative_bias": float(np.linalg.norm(bias) / norm),
            "relative_se": float(np.linalg.norm(se) / norm),
            # coordinates with no noise (the first layer's KL, given x) have se = 0
            "max_z": float(np.max(np.abs(bias)[se > 1e-12 * norm] / se[se > 1e-12 * norm])),
            "cosine": float(mean @ g_exact / (np.linalg.norm(mean) * norm))}


def main():
    print(f"network {'-'.join(map(str, SIZES))}, objective VCR_L + {BETA} KL, M = 2, "
          f"20,000 draws of a batch of 4")
    print(f"{'estimator':>10} {'|bias|/|g|':>11} {'s.e.':>8} {'max |z|':>8} {'cosine':>7}")
    for est in ("raiko", "st", "reinforce"):
        r = measure(est)
        print(f"{est:>10} {r['relative_bias']:>11.4f} {r['relative_se']:>8.4f} "
              f"{r['max_z']:>8.1f} {r['cosine']:>7.4f}")


if __name__ == "__main__":
    main()
