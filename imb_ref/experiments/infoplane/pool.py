"""Running the pairs: one after another in this process, or `jobs` at once in worker
processes (NumPy, one BLAS thread each). Each (model, seed) is a pure function of its
seed, so the numbers are the same either way. Nothing here is shared between processes
but the pairs' files (pair.py): a worker writes its pair's last epoch there, the parent
reads it for the progress bars, and a worker's result comes back as its return value."""

import contextlib
import multiprocessing
import os
import signal
import time

import numpy as np

from .pair import read_epoch, train_pair, write_epoch

BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def run_here(cfg, todo, data, xp, points, out_dir, progress):
    """The (model, seed) pairs one after another in this process; yields (model, seed,
    results) as each finishes. `progress` (a PairProgress) shows each pair's epochs."""
    quiet_cfg = cfg.replace(quiet=True)        # the pair's own bar: progress has one
    try:
        for i, (name, seed) in enumerate(todo):
            yield name, seed, train_pair(quiet_cfg, name, seed, data, xp, points, out_dir,
                                         lambda epoch, i=i: progress.update(i, epoch))
    finally:
        progress.close()


@contextlib.contextmanager
def one_blas_thread_for_children():
    """Worker processes start with one BLAS thread each: BLAS reads these variables when
    it loads, so they are set while the workers start and restored after."""
    saved = {k: os.environ.get(k) for k in BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in BLAS_THREAD_VARS})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def quiet_worker():
    """Worker start-up: Ctrl-C is the parent's to handle (it ends the pool); tqdm's
    (disabled) bars get a thread lock instead of the interprocess one they would create,
    which a stopped worker could not release."""
    import threading

    from tqdm import tqdm
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())


def train_pair_in_worker(cfg, name, seed, data, points, out_dir):
    """One (model, seed) in a worker process, its rows and its last epoch in its files."""
    return train_pair(cfg, name, seed, data, np, points, out_dir,
                      lambda epoch: write_epoch(out_dir, name, seed, epoch))


def run_in_workers(cfg, todo, data, points, out_dir, jobs, progress):
    """The (model, seed) pairs in `jobs` worker processes; yields (model, seed, results)
    as each finishes, and shows each pair's epochs in `progress` (a PairProgress). A
    worker's error (a failed check, a NaN) is raised here after the pool is stopped;
    finished pairs stay finished, and a rerun continues the others from their
    checkpoints."""
    ctx = multiprocessing.get_context("spawn")      # fresh interpreters: no forked threads
    quiet_cfg = cfg.replace(quiet=True)
    with one_blas_thread_for_children():
        pool = ctx.Pool(min(jobs, len(todo)), initializer=quiet_worker)
    try:
        pending = {pool.apply_async(train_pair_in_worker,
                                    (quiet_cfg, name, seed, data, points, out_dir)):
                   (name, seed) for name, seed in todo}
        while pending:
            progress.update_all([read_epoch(out_dir, name, seed) for name, seed in todo])
            ready = [r for r in pending if r.ready()]
            for r in ready:
                name, seed = pending.pop(r)
                yield name, seed, r.get()           # re-raises the worker's error
            if not ready:
                time.sleep(0.2)
    finally:                        # done, a worker's error, or Ctrl-C: stop every worker
        progress.close()
        pool.terminate()
        pool.join()
