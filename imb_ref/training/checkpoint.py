"""Checkpoints: one `.npz` per run, written to a temporary name and renamed.

Layout: `param/<name>` (the parameters), `best/<name>` (the best-validation
parameters, for early stopping), `opt/<slot>` (the optimiser's state arrays) and
`meta`, a JSON string of one schema for every caller (a run folder, an information-plane
pair):

    {"format": 2, "epoch": the epoch just finished, "model": its name,
     "config": the run's RunSettings (config.json's fields), "opt_t": the optimiser's
     step count, "state": the caller's bookkeeping (early stopping's best_val,
     best_epoch, bad_epochs; a pair's last loss and its number of measurements)}

`load` reads the layouts written before (format 1, see `upgrade`) into this one. The
run's random numbers need no saved state: each epoch's generator is a function of
(seed, epoch) (`backend.make_rng`).
"""

import json
import os
import zipfile

import numpy as np

from ..backend import to_numpy
from ..errors import UserError
from ..files import atomic_write, path_problem

FILENAME = "checkpoint.npz"
FORMAT = 2
STOPPING = ("best_val", "best_epoch", "bad_epochs")     # early stopping's bookkeeping


def save(path, params, best, opt_state, epoch, cfg, state=None):
    """The checkpoint of run settings `cfg` after `epoch`, with the caller's `state`
    (a dict of JSON values), written to a temporary name and renamed."""
    arrays = {f"param/{k}": to_numpy(v) for k, v in params.items()}
    arrays.update({f"best/{k}": to_numpy(v) for k, v in best.items()})
    arrays.update({f"opt/{k}": to_numpy(v) for k, v in opt_state.items() if k != "t"})
    meta = {"format": FORMAT, "epoch": int(epoch), "model": cfg.network.model,
            "config": cfg.to_dict(), "opt_t": int(opt_state.get("t", 0)),
            "state": dict(state or {})}
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


def upgrade(meta):
    """A checkpoint's meta in today's schema (FORMAT). Format 1 had two layouts: a run
    folder's (its config, model and epoch, early stopping's bookkeeping at the top) and
    an information-plane pair's (its "settings": the run settings, sometimes only those
    that change the trajectory, with "points"; and the last "loss")."""
    if meta.get("format") == FORMAT:
        return meta
    if "settings" in meta:                       # an information-plane pair
        config = dict(meta["settings"])
        state = {"loss": meta.get("loss")}
        if "points" in config:
            state["points"] = config.pop("points")
    else:                                        # a run folder
        config = meta["config"]
        state = {k: meta[k] for k in STOPPING if k in meta}
    return {"format": FORMAT, "epoch": meta["epoch"], "model": config.get("model"),
            "config": config, "opt_t": meta.get("opt_t", 0), "state": state}


def load(path):
    """-> (params, best, opt_state, meta) as host arrays; meta in today's schema,
    whichever format the file was written in (upgrade)."""
    path = resolve_path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = upgrade(json.loads(str(data["meta"])))
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
