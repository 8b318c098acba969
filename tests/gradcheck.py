"""One gradient-check helper: centred differences in float64 along random directions.

For f: params -> scalar and the analytic gradient G, pick a random direction D per
parameter and compare (f(p + h D) - f(p - h D)) / 2h with <G, D>. The truncation
error is O(h^2 f''') and the rounding error O(eps |f| / h); h = 1e-5 puts both near
1e-10 relative for the smooth functions checked here.
"""

import numpy as np


def directional_check(f, params, grads, rng, h=1e-5, directions=3):
    """Returns the worst error over parameters and directions, relative to |G||D|."""
    worst = 0.0
    for name, p in params.items():
        for _ in range(directions):
            d = rng.standard_normal(p.shape)
            plus = {k: (v + h * d if k == name else v) for k, v in params.items()}
            minus = {k: (v - h * d if k == name else v) for k, v in params.items()}
            numeric = (f(plus) - f(minus)) / (2 * h)
            g = np.asarray(grads[name])
            analytic = float(np.sum(g * d))
            # Relative to |G||D|, the largest value <G, D> could take: a direction nearly
            # orthogonal to G must not turn rounding noise into a large relative error.
            scale = max(float(np.linalg.norm(g) * np.linalg.norm(d)), abs(numeric), 1e-12)
            err = abs(numeric - analytic) / scale
            worst = max(worst, err)
    return worst


def elementwise_check(f, x, dx, h=1e-6):
    """Full centred-difference gradient of scalar f at array x, compared with dx."""
    x = np.array(x, dtype=np.float64)
    num = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    for _ in it:
        i = it.multi_index
        old = x[i]
        x[i] = old + h
        fp = f(x)
        x[i] = old - h
        fm = f(x)
        x[i] = old
        num[i] = (fp - fm) / (2 * h)
    return float(np.abs(num - dx).max() / max(1e-8, np.abs(num).max()))
