"""One (model, seed) pair's files while it is in progress: parts/<model>-<seed>.csv (its
rows, written row by row), .npz (its checkpoint) and .epoch (its last finished epoch,
which a worker process writes and the parent reads for the progress bars). A complete
pair's rows move to infoplane.csv and its files are removed."""

import csv
import os
import time

from ...training import checkpoint
from .measure import CSV_COLUMNS, build, train_and_measure


def row_writer(fh):
    """write_row(row) for a CSV open for writing: each row flushed at once, so an
    interrupted run keeps every row it measured."""
    writer = csv.DictWriter(fh, CSV_COLUMNS)

    def write_row(row):
        writer.writerow(row)
        fh.flush()
    return write_row


def pair_paths(out_dir, name, seed):
    """parts/<model>-<seed>.csv (its rows, no header) and .npz (its checkpoint)."""
    stem = os.path.join(out_dir, "parts", f"{name}-{seed}")
    return stem + ".csv", stem + ".npz"


def epoch_path(out_dir, name, seed):
    return os.path.join(out_dir, "parts", f"{name}-{seed}.epoch")


def write_epoch(out_dir, name, seed, epoch):
    """The pair's last finished epoch, for the parent's progress bar (a worker's only
    message to it before its result)."""
    with open(epoch_path(out_dir, name, seed), "w") as fh:
        fh.write(str(epoch))


def read_epoch(out_dir, name, seed):
    """The last epoch `write_epoch` wrote, 0 if none (or a write caught half-way)."""
    try:
        with open(epoch_path(out_dir, name, seed)) as fh:
            return int(fh.read() or 0)
    except (OSError, ValueError):
        return 0


def train_pair(cfg, name, seed, data, xp, points, out_dir, on_epoch=None):
    """train_and_measure for one (model, seed), continuing from its checkpoint if it has
    one: the rows measured after the checkpoint are dropped (they will be measured
    again), the rest kept. Returns the results with the wall time of this process."""
    part, ckpt = pair_paths(out_dir, name, seed)
    os.makedirs(os.path.dirname(part), exist_ok=True)
    last = checkpoint.load(ckpt)[3]["epoch"] if os.path.exists(ckpt) else None
    rows = []
    if last is not None and os.path.exists(part):
        with open(part, newline="") as fh:
            rows = [r for r in csv.DictReader(fh, CSV_COLUMNS) if int(r["epoch"]) <= last]
    with open(part, "w", newline="") as fh:
        write_row = row_writer(fh)
        for row in rows:
            write_row(row)
        t0 = time.time()
        res = train_and_measure(cfg, build(name, cfg), data, xp, seed, cfg.training.epochs, points,
                                write_row, on_epoch, checkpoint_path=ckpt)
    res["wall_s"] = round(time.time() - t0, 1)
    return res


def merge_pair(out_dir, name, seed, write_row):
    """Move a complete pair's rows from its part file into infoplane.csv (through
    write_row) and remove the part file and its checkpoint."""
    part, ckpt = pair_paths(out_dir, name, seed)
    with open(part, newline="") as fh:
        for row in csv.DictReader(fh, CSV_COLUMNS):
            write_row(row)
    os.remove(part)
    for path in (ckpt, epoch_path(out_dir, name, seed)):
        if os.path.exists(path):
            os.remove(path)
