"""One run's state on disk and in memory, shared by `fit` (a run folder) and the
information plane (a (model, seed) pair under parts/).

RunState holds where a run keeps its checkpoint and its per-epoch records, and does
the four things every trainer repeated: start from the seed's initialisation or from
the checkpoint (init_or_resume, with the optimiser's state put back), save a
checkpoint atomically, append a record, and on resume drop the records written after
the checkpoint (a crash between the two). Its lock is the folder's (files.folder_lock).
EarlyStopping is the validation-error rule as a hook on the training loop.
"""

import json
import os

from . import checkpoint
from ..files import atomic_write, folder_lock
from ..streams import init_rng
from .metrics import read_metrics


class RunState:
    """A run's checkpoint file and, for a run folder, its metrics.jsonl (`metrics` None:
    the information plane keeps its rows in its own CSV)."""

    def __init__(self, checkpoint_path, metrics_path=None):
        self.checkpoint_path = checkpoint_path
        self.metrics_path = metrics_path

    @classmethod
    def folder(cls, out_dir):
        """A run folder: <out_dir>/checkpoint.npz and <out_dir>/metrics.jsonl."""
        return cls(os.path.join(out_dir, checkpoint.FILENAME),
                   os.path.join(out_dir, "metrics.jsonl"))

    def lock(self):
        """The folder's lock, held while the run trains (one process per run)."""
        return folder_lock(os.path.dirname(self.checkpoint_path))

    def init_or_resume(self, model, seed, dtype, xp, opt, saved=None):
        """(params, best, meta) on the device. A new run: the model's initialisation from
        the seed's INIT stream, meta {"epoch": 0, "state": {}}. A resumed run (`saved`,
        what checkpoint.load gave): its parameters, its best-validation snapshot (or its
        parameters), its meta (checkpoint.py's schema), and the optimiser's state put
        back into `opt` (the step count `t` stays a host integer). Records of epochs
        after the start are dropped."""
        if saved is None:
            params = {k: xp.asarray(v) for k, v in model.init(init_rng(seed), dtype).items()}
            best, meta = {k: v.copy() for k, v in params.items()}, {"epoch": 0, "state": {}}
        else:
            host_params, host_best, opt_state, meta = saved
            params = {k: xp.asarray(v) for k, v in host_params.items()}
            best = {k: xp.asarray(v) for k, v in (host_best or host_params).items()}
            opt.state = {k: (v if k == "t" else xp.asarray(v)) for k, v in opt_state.items()}
        self.truncate(meta["epoch"])
        return params, best, meta

    def save(self, params, best, opt, epoch, cfg, state):
        """The checkpoint of run settings `cfg` after `epoch` with the caller's `state`,
        written to a temporary name and renamed (checkpoint.save)."""
        checkpoint.save(self.checkpoint_path, params, best, opt.state, epoch, cfg, state)

    def append(self, record):
        """One line of metrics.jsonl, written at once."""
        with open(self.metrics_path, "a") as fh:
            fh.write(json.dumps(record) + "\n")

    def truncate(self, last_epoch):
        """On resume, drop metrics.jsonl's lines of epochs after the checkpoint (written
        before a crash) and a last line cut short. Rewritten through a temporary file,
        so a second interruption loses no line."""
        path = self.metrics_path
        if path is None or not os.path.exists(path):
            return
        with open(path) as fh:
            text = fh.read()
        keep = "".join(json.dumps(r) + "\n" for r in read_metrics(path)
                       if r["epoch"] <= last_epoch)
        if keep != text:
            with atomic_write(path) as fh:
                fh.write(keep)


class EarlyStopping:
    """Early stopping on the validation error (the paper's protocol, patience 20 in the
    authors' code), as a hook `update(state, record, stage, params)` called after each
    epoch: it keeps the best epoch's parameters (`best`) and says when to stop. Its
    bookkeeping (best_val, best_epoch, bad_epochs) is the checkpoint's state, so a
    resumed run stops where an uninterrupted one would. GreedyIMB restarts the count
    at each stage, and only its last stage may stop the run."""

    def __init__(self, patience, stages, best):
        self.patience, self.stages, self.best = patience, stages, best

    START = {"best_val": None, "best_epoch": 0, "bad_epochs": 0}

    def new_stage(self, state):
        state.update(best_val=None, bad_epochs=0)

    def update(self, state, record, stage, params):
        """Returns whether to stop after this epoch. `state` holds best_val, best_epoch
        and bad_epochs (START for a new run)."""
        if state["best_val"] is None or record["val_error"] < state["best_val"]:
            state.update(best_val=record["val_error"], best_epoch=record["epoch"],
                         bad_epochs=0)
            self.best = {k: v.copy() for k, v in params.items()}      # a snapshot
            return False
        state["bad_epochs"] += 1
        return stage == self.stages and state["bad_epochs"] >= self.patience
