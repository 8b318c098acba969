"""One training run from its settings: the model they describe, the run folder, training
(or resuming), evaluating and the files it writes; and what a finished or interrupted
folder holds.

Shared by `python run.py train` (training/commands.py), the Table 1 driver and the
information plane. A run folder holds config.json, metrics.jsonl, checkpoint.npz and,
once finished, summary.json.
"""

import datetime
import json
import os
import time

import numpy as np

from .. import backend
from ..files import check_writable_folder, write_json
from ..gpu.fused import FusedPath
from ..models.registry import Model
from ..streams import init_rng
from . import checkpoint
from .loop import final_evaluation, fit
from .metrics import read_metrics
from .run_state import RunState


def build_model(cfg, n_features, n_classes):
    """The Model a configuration describes, for data of this shape."""
    net = cfg.network
    return Model(net.model, (n_features,) + net.hidden + (n_classes,), M=net.samples,
                 test_samples=net.test_samples, gammas=net.layer_gammas(),
                 betas=net.layer_betas(), estimator=net.estimator, vib_k=net.vib_k,
                 vib_beta=net.vib_beta, vib_samples=net.vib_samples,
                 vib_test_samples=net.vib_test_samples,
                 accelerator=None if cfg.where.fused is False else FusedPath())


def output_folder(given, name):
    """--output-dir, else runs/<name>-<time>; refused (not created) if it is a file,
    lies under a file, or cannot be written."""
    out = given or os.path.join("runs", f"{name}-{datetime.datetime.now():%Y%m%d-%H%M%S}")
    check_writable_folder(out, "--output-dir")
    return out


def train_run(cfg, model, data, xp, out_dir, resume=None, log=print):
    """Train `model` into `out_dir` (continuing from `resume`), evaluate, return summary.

    The summary's wall_s is the whole run's time, however many times it was interrupted
    and resumed: its epochs' time_s in metrics.jsonl plus the final evaluation (eval_s)."""
    os.makedirs(out_dir, exist_ok=True)
    with RunState.folder(out_dir).lock():      # one process per run folder at a time
        write_json(os.path.join(out_dir, "config.json"), cfg.to_dict())
        if cfg.training.epochs == 0 and resume is None:
            params = {k: xp.asarray(v) for k, v in model.init(
                init_rng(cfg.training.seed),
                np.dtype(cfg.training.dtype)).items()}
            done = {"epoch": 0}
        else:
            params, done = fit(cfg, model, data, xp, out_dir, log=log, resume=resume)
        t0 = time.time()
        summary = final_evaluation(cfg, model, params, data, xp)
        eval_s = time.time() - t0
        summary.update(epochs_trained=done["epoch"], best_epoch=done.get("best_epoch"),
                       best_val_error=done.get("best_val"), eval_s=round(eval_s, 2),
                       wall_s=round(epoch_seconds(out_dir) + eval_s, 2),
                       backend=cfg.where.backend, device=backend.device_name(xp),
                       model=cfg.network.model, dataset=cfg.data.dataset)
        write_json(os.path.join(out_dir, "summary.json"), summary)
    return summary


def epoch_seconds(out_dir):
    """The time of a run folder's epochs, summed over metrics.jsonl (every segment of a
    resumed run: a resume drops the lines after its checkpoint, so none counts twice)."""
    records = read_metrics(os.path.join(out_dir, "metrics.jsonl"))
    return float(sum(r.get("time_s", 0.0) for r in records))


def run_seconds(out_dir, summary):
    """A finished run's whole time: summary.json's wall_s, or, for a summary written
    before wall_s counted earlier segments (no eval_s), its epochs' time alone."""
    return summary["wall_s"] if "eval_s" in summary else epoch_seconds(out_dir)


def finished_summary(out_dir):
    """A finished run folder's summary.json, or None while the run is unfinished."""
    summary_path = os.path.join(out_dir, "summary.json")
    if not os.path.exists(summary_path):
        return None
    with open(summary_path) as fh:
        return json.load(fh)


def finished_or_resumable(out_dir):
    """(summary or None, checkpoint tuple or None) for a run folder."""
    summary = finished_summary(out_dir)
    if summary is not None:
        return summary, None
    ckpt = os.path.join(out_dir, checkpoint.FILENAME)
    if os.path.exists(ckpt):
        return None, checkpoint.load(ckpt)
    return None, None


def describe(cfg, xp, data, model, out_dir, models=None):
    """The run's settings, one per line, before it starts."""
    lines = [
        ("backend", f"{cfg.where.backend} ({backend.device_name(xp)})"
                    + (", fused kernels" if model.uses_fused(xp) else "")),
        ("dtype", cfg.training.dtype),
        ("dataset", data.summary()),
        ("models" if models else "model",
         f"{', '.join(models) if models else model.name}, network "
         f"{'-'.join(map(str, model.sizes))}"),
    ]
    if model.exact:
        lines.append(("objective", "exact: every state of every layer enumerated, no "
                      f"sampling in training; M={model.test_samples} at test, "
                      f"{cfg.network.test_runs} test runs"))
    elif model.stochastic_tree:
        lines.append(("samples", f"M={model.M} in training ({model.M ** model.L} leaves per "
                      f"example), M={model.test_samples} at test, {cfg.network.test_runs} "
                      f"test runs, estimator {cfg.network.estimator}"))
        if model.kind.imb:
            lines.append(("weights", f"gammas {model.gammas}, betas {model.betas}"))
    if model.kind.network.bottleneck:
        lines.append(("bottleneck", f"K={cfg.network.vib_k}, beta {cfg.network.vib_beta}, "
                      f"{cfg.network.vib_samples} draws per example in training, "
                      f"{cfg.network.vib_test_samples} at test"))
    t = cfg.training
    lines += [
        ("training", f"{t.epochs} epochs, batch {t.batch_size}, {t.optimizer}"
         f"{'' if t.lr is None else f' lr {t.lr}'}, clip {t.clip or 'none'}, "
         f"patience {t.patience or 'none'}, seed {t.seed}"
         f"{f', preset {t.preset}' if t.preset else ''}"),
        ("output", out_dir),
    ]
    for key, value in lines:
        print(f"{key:>10}: {value}", flush=True)
