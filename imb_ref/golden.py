"""Saved reference cases of the IMB objective, for replay in another framework.

A case (format_version 1, float64, `.npz`) holds everything the objective needs and
everything it returns with the Raiko estimator:

    format_version  1
    x (B, d), y (B,) int64, M (), gammas (L+1,), betas (L,)
    W_0..W_L, b_0..b_L, rho_1..rho_L          parameters (see models/sbn.py)
    u_1..u_L                                 uniforms, u_l of shape (B, M**(l-1), M, n_l)
    loss (), vcr (L+1,), kl (L,)             the objective and its terms, in nats
    grad_W_0.., grad_b_0.., grad_rho_1..     gradients of `loss`

To replay: run your forward pass on these parameters and uniforms (z_l = 1[u_l < p_l],
children of a parent contiguous) and compare; `replay` does it for this code.
"""

import numpy as np

from .backend import to_numpy
from .errors import UserError
from .files import atomic_write, check_writable_file
from .models import sbn

FORMAT_VERSION = 1


def make_case(params, x, y, uniforms, M, gammas, betas):
    out = sbn.imb_objective(params, x, y, uniforms, M, gammas, betas, "raiko")
    case = {"format_version": np.array(FORMAT_VERSION), "x": x, "y": y.astype(np.int64),
            "M": np.array(M), "gammas": np.asarray(gammas, dtype=np.float64),
            "betas": np.asarray(betas, dtype=np.float64),
            "loss": out["loss"], "vcr": out["vcr"], "kl": out["kl"]}
    case.update(params)
    case.update({f"u_{l}": u for l, u in enumerate(uniforms, start=1)})
    case.update({f"grad_{k}": g for k, g in out["grads"].items()})
    return {k: to_numpy(v) for k, v in case.items()}


def write_case(path, case):
    """Write atomically: a temporary file in the same folder, then rename."""
    check_writable_file(path, "golden FILE.npz")
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **case)
    return path


def read_case(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            case = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError) as exc:
        raise UserError(f"{path}: unreadable reference case ({exc})") from None
    if int(case.get("format_version", -1)) != FORMAT_VERSION:
        raise UserError(f"{path}: format_version {case.get('format_version')} is not "
                        f"{FORMAT_VERSION}")
    return case


def case_params(case):
    return {k: v for k, v in case.items() if k.split("_")[0] in ("W", "b", "rho")}


def replay(case, xp=np):
    """Recompute a case with this code on `xp`; returns {name: max abs difference}."""
    params = {k: xp.asarray(v) for k, v in case_params(case).items()}
    L = len([k for k in case if k.startswith("u_")])
    uniforms = [xp.asarray(case[f"u_{l}"]) for l in range(1, L + 1)]
    out = sbn.imb_objective(params, xp.asarray(case["x"]), xp.asarray(case["y"]), uniforms,
                            int(case["M"]), case["gammas"], case["betas"], "raiko")
    diffs = {"loss": abs(float(to_numpy(out["loss"])) - float(case["loss"])),
             "vcr": float(np.abs(to_numpy(out["vcr"]) - case["vcr"]).max()),
             "kl": float(np.abs(to_numpy(out["kl"]) - case["kl"]).max())}
    for k, g in out["grads"].items():
        diffs[f"grad_{k}"] = float(np.abs(to_numpy(g) - case[f"grad_{k}"]).max())
    return diffs
