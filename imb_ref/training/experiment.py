"""One training run from a configuration: train (or resume), evaluate, write the files.

Shared by `run.py` (one model) and the Table 1 driver (many runs). A run folder holds
config.json, metrics.jsonl, checkpoint.npz and, once finished, summary.json.
"""

import datetime
import json
import os
import time

import numpy as np

from .. import backend
from . import checkpoint
from .config import parse_sizes, per_layer
from ..files import check_writable_folder, write_json
from ..gpu.fused import FusedPath
from ..models.registry import Model
from .loop import final_evaluation, fit


def build_model(cfg, n_features, n_classes):
    """The Model a configuration describes, for data of this shape."""
    hidden = parse_sizes(cfg.hidden)
    L = len(hidden)
    return Model(cfg.model, (n_features,) + hidden + (n_classes,), M=cfg.samples,
                 test_samples=cfg.test_samples, gammas=per_layer(cfg.gammas, L + 1, "--gammas"),
                 betas=per_layer(cfg.betas, L, "--betas"), estimator=cfg.estimator,
                 vib_k=cfg.vib_k, vib_beta=cfg.vib_beta, vib_samples=cfg.vib_samples,
                 vib_test_samples=cfg.vib_test_samples,
                 accelerator=None if cfg.fused is False else FusedPath())


def output_folder(given, name):
    """--output-dir, else runs/<name>-<time>; refused (not created) if it is a file,
    lies under a file, or cannot be written."""
    out = given or os.path.join("runs", f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    check_writable_folder(out, "--output-dir")
    return out


def train_run(cfg, model, data, xp, out_dir, resume=None, log=print):
    """Train `model` into `out_dir` (continuing from `resume`), evaluate, return summary."""
    os.makedirs(out_dir, exist_ok=True)
    write_json(os.path.join(out_dir, "config.json"), cfg.to_dict())
    t0 = time.time()
    if cfg.epochs == 0 and resume is None:
        params = {k: xp.asarray(v) for k, v in model.init(
            np.random.default_rng(np.random.SeedSequence(cfg.seed)), np.dtype(cfg.dtype)).items()}
        meta = {"epoch": 0}
    else:
        params, meta = fit(cfg, model, data, xp, out_dir, log=log, resume=resume)
    summary = final_evaluation(cfg, model, params, data, xp)
    summary.update(epochs_trained=meta["epoch"], best_epoch=meta.get("best_epoch"),
                   best_val_error=meta.get("best_val"),
                   wall_s=round(time.time() - t0, 2), backend=cfg.backend,
                   device=backend.device_name(xp), model=cfg.model, dataset=cfg.dataset)
    write_json(os.path.join(out_dir, "summary.json"), summary)
    return summary


def finished_or_resumable(out_dir):
    """(summary or None, checkpoint tuple or None) for a run folder."""
    summary_path = os.path.join(out_dir, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as fh:
            return json.load(fh), None
    ckpt = os.path.join(out_dir, checkpoint.FILENAME)
    if os.path.exists(ckpt):
        return None, checkpoint.load(ckpt)
    return None, None
