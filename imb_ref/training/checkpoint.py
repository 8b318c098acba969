"""Checkpoints: one `.npz` per run, written to a temporary name and renamed.

Layout: `param/<name>` (the parameters), `best/<name>` (the best-validation
parameters, for early stopping), `opt/<slot>` (the optimiser's state arrays) and
`meta`, a JSON string with the configuration, the epoch just finished, the
optimiser's step count and the early-stopping bookkeeping. The run's random numbers
need no saved state: each epoch's generator is a function of (seed, epoch)
(`backend.make_rng`).
"""

import json
import os
import zipfile

import numpy as np

from ..backend import to_numpy
from ..errors import UserError
from ..files import atomic_write, path_problem

FILENAME = "checkpoint.npz"


def save(path, params, best, opt_state, meta):
    arrays = {f"param/{k}": to_numpy(v) for k, v in params.items()}
    arrays.update({f"best/{k}": to_numpy(v) for k, v in best.items()})
    arrays.update({f"opt/{k}": to_numpy(v) for k, v in opt_state.items() if k != "t"})
    meta = dict(meta, opt_t=int(opt_state.get("t", 0)))
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def resolve_path(path):
    """A run folder or a checkpoint file -> the checkpoint file's path."""
    if os.path.isdir(path):
        path = os.path.join(path, FILENAME)
    problem = path_problem(path)
    if problem:                       # a folder named checkpoint.npz, a broken link
        raise UserError(f"{path}: {problem}; a checkpoint ({FILENAME}) is expected there")
    if not os.path.isfile(path):
        raise UserError(f"{path}: no checkpoint there; give a run's output folder or its "
                        f"{FILENAME}")
    return path


def load(path):
    """-> (params, best, opt_state, meta) as host arrays."""
    path = resolve_path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            groups = {"param": {}, "best": {}, "opt": {}}
            for key in data.files:
                if "/" in key:
                    group, name = key.split("/", 1)
                    groups[group][name] = data[key]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise UserError(f"{path}: not a readable checkpoint ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0][:80] if str(exc) else 'no detail'}); it "
                        f"is truncated, corrupt or not a checkpoint at all: start the run "
                        f"again in a new --output-dir") from None
    groups["opt"]["t"] = meta.get("opt_t", 0)
    return groups["param"], groups["best"], groups["opt"], meta


def check_against(path, loaded, model, network=""):
    """Refuse a checkpoint whose arrays do not fit the model its configuration builds
    (a file edited by hand, or one config.json/meta from another run): every parameter,
    best-validation copy and optimiser slot must have the model's names and shapes.
    Without this check such a file fails deep inside a forward pass with a broadcasting
    error, or trains a network other than the one its configuration names.

    loaded: (params, best, opt_state, meta) from `load`; model: the Model that the
    checkpoint's configuration builds; network: how to name it in the message."""
    params, best, opt_state, _ = loaded
    expected = {k: tuple(v.shape) for k, v in
                model.init(np.random.default_rng(0), np.float32).items()}
    where = network or "-".join(map(str, model.sizes))

    def refuse(what):
        raise UserError(f"{path}: the checkpoint does not fit its configuration "
                        f"({model.name}, network {where}): {what}; the file is damaged or "
                        f"was written by another run: start again in a new --output-dir")

    if set(params) != set(expected):
        missing = sorted(set(expected) - set(params))
        extra = sorted(set(params) - set(expected))
        refuse("parameters " + "; ".join(filter(None, (
            f"missing {', '.join(missing)}" if missing else "",
            f"not in the model: {', '.join(extra)}" if extra else ""))))
    groups = [("param", params), ("best", best)] + [
        ("opt", {key: value}) for key, value in opt_state.items() if key != "t"]
    for group, arrays in groups:
        for key, array in arrays.items():
            name = key.split("/", 1)[0] if group == "opt" else key
            if name not in expected:
                refuse(f"{group}/{key} belongs to no parameter of the model")
            if tuple(np.shape(array)) != expected[name]:
                refuse(f"{group}/{key} has shape {tuple(np.shape(array))}, the model's "
                       f"{name} is {expected[name]}")
            if not np.issubdtype(np.asarray(array).dtype, np.floating):
                refuse(f"{group}/{key} holds {np.asarray(array).dtype}, not floats")
            if not np.isfinite(array).all():
                refuse(f"{group}/{key} holds NaN or infinite values")
