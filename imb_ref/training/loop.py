"""The training loop: minibatches, chunks, optimiser, evaluation, checkpoints.

One epoch:
  1. shuffle the training set with the epoch's host generator (seed, 0, epoch);
  2. for each minibatch, split it into chunks that fit `--max-memory`, and sum each
     chunk's gradient weighted by its share of the batch (every term of the objective
     is a batch mean, so this equals the full-batch gradient exactly);
  3. clip, step the optimiser (GreedyIMB: frozen layers untouched);
  4. bring the step losses back to the host (every 50 steps, for the progress bar) and
     stop on a NaN or infinity;
  5. evaluate validation and test error, append a line to metrics.jsonl, and write the
     checkpoint atomically.
The noise of epoch e comes from the generator (seed, 1, e), so a resumed run draws
exactly what an uninterrupted run would.
"""

import math
import os
import time

import numpy as np

from ..backend import make_rng, to_numpy
from ..streams import Stream
from ..errors import UserError
from .run_state import EarlyStopping, RunState
from .evaluate import chunk_size, error_rate, evaluate
from ..gpu.launch import optimizer_kernels
from ..optim import clip_global_norm, make_optimizer


def stage_length(stages, epochs, stage_epochs):
    """Epochs of each GreedyIMB stage but the last, which runs to the end:
    --stage-epochs, else equal shares of the epochs."""
    return stage_epochs or math.ceil(epochs / stages)


def greedy_stage(model, epoch, epochs, stage_epochs):
    """GreedyIMB's stage for a 1-based epoch."""
    if model.stages == 1:
        return 1
    per = stage_length(model.stages, epochs, stage_epochs)
    return min(model.stages, (epoch - 1) // per + 1)


def terminal_shape():
    """tqdm's ncols and nrows: the terminal's size, 80 x 24 where it reports none. A
    terminal that says it is 0 x 0 (a new pseudo-terminal, some remote shells and
    multiplexers) makes tqdm take -1 rows and draw nothing at all."""
    import shutil
    size = shutil.get_terminal_size((80, 24))
    return {"ncols": size.columns, "nrows": size.lines}


def progress_bar(total, desc, quiet, unit="step", initial=0):
    """A tqdm bar, off with --quiet or when stderr is not a terminal; `initial` counts
    work already done (a resumed run)."""
    import sys

    from tqdm import tqdm
    return tqdm(total=total, desc=desc, leave=False, unit=unit, initial=initial,
                disable=quiet or not sys.stderr.isatty(), **terminal_shape())


def fit(cfg, model, data, xp, out_dir, log=print, resume=None):
    """Train `model` on `data` (a Dataset of host arrays) with run settings `cfg` into
    the run folder `out_dir`; returns (params, done): the best-validation parameters
    where early stopping runs, else the last, and {epoch: the last epoch trained,
    best_val, best_epoch, bad_epochs}.

    resume: (params, best, opt_state, meta) from `checkpoint.load`, or None.
    """
    dtype = np.dtype(cfg.training.dtype)
    dev = lambda split: (xp.asarray(split.x, dtype=dtype), xp.asarray(split.y))
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = map(
        dev, (data.train, data.val, data.test))
    batch = min(cfg.training.batch_size, len(data.train))
    opt = make_optimizer(cfg.training.optimizer, cfg.training.lr, momentum=cfg.training.momentum,
                         kernels=optimizer_kernels(xp, cfg.where.fused))
    os.makedirs(out_dir, exist_ok=True)
    run = RunState.folder(out_dir)
    params, best, meta = run.init_or_resume(model, cfg.training.seed, dtype, xp, opt, resume)
    state = {**EarlyStopping.START, **meta["state"]}
    done = {"epoch": meta["epoch"]}
    chunk = training_chunk(model, cfg, len(data.train))
    if chunk < batch:
        log(f"chunking: each batch of {batch} runs in chunks of at most {chunk} examples "
            f"to stay under --max-memory {cfg.where.max_memory} GB")
    eval_chunk = chunk_size(model, dtype.itemsize, cfg.where.max_memory, 1000, training=False)
    stopper = EarlyStopping(cfg.training.patience, model.stages, best) \
        if cfg.training.patience > 0 and len(data.val) > 0 else None
    clock = [time.time()]

    def after_epoch(epoch, stage, losses):
        """fit's hook on the loop: evaluate, early stopping, metrics.jsonl, checkpoint."""
        if stopper and epoch > 1 and stage != greedy_stage(model, epoch - 1, cfg.training.epochs,
                                                           cfg.training.stage_epochs):
            stopper.new_stage(state)             # early stopping restarts per stage
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        if model.stages > 1:
            record["stage"] = stage
        predict = lambda xb, rng=make_rng(xp, cfg.training.seed, Stream.EPOCH_ERRORS, epoch): \
            model.predict_proba(params, xb, rng)
        if len(data.val):
            record["val_error"] = error_rate(predict, x_val, y_val, eval_chunk)
        record["test_error"] = error_rate(predict, x_test, y_test, eval_chunk)
        record["time_s"], clock[0] = round(time.time() - clock[0], 3), time.time()
        done["epoch"] = epoch
        stop = stopper.update(state, record, stage, params) if stopper else False
        run.append(record)
        run.save(params, stopper.best if stopper else {}, opt, epoch, cfg, state)
        if not cfg.where.quiet:
            log(_describe(record))
        if stop:
            log(f"early stopping: validation error has not improved for {cfg.training.patience} "
                f"epochs; using epoch {state['best_epoch']}")
        return stop

    run_epochs(model, params, opt, (x_train, y_train), cfg, xp, after_epoch,
               first=meta["epoch"] + 1, desc=lambda epoch: f"epoch {epoch}/{cfg.training.epochs}")
    return (stopper.best if stopper else params), {**done, **state}


def training_chunk(model, cfg, n):
    """Examples per chunk of a training batch (of min(batch_size, n)) that fit
    cfg.where.max_memory."""
    return chunk_size(model, np.dtype(cfg.training.dtype).itemsize, cfg.where.max_memory,
                      min(cfg.training.batch_size, n), training=True)


def run_epochs(model, params, opt, train, cfg, xp, after_epoch, first=1, desc=None):
    """The one training loop (Algorithm 1, line 4, in epochs) of run settings `cfg`
    (its seed, epochs, batch size, clipping, shuffling, GreedyIMB's stages) on the
    device arrays `train` = (x, y): each epoch trains on every minibatch (train_epoch:
    lines 5-13 per step), then calls `after_epoch(epoch, stage, losses)`, the caller's
    hook: fit evaluates, stops early and checkpoints there; the information-plane
    experiment measures I(Z_l;X) and I(Z_l;Y). A hook that returns True stops the loop.
    Epoch e's shuffle and noise are functions of (seed, e), so the loop can start at any
    `first` epoch. `desc(epoch)`: the progress bar's label (None: no bar)."""
    chunk = training_chunk(model, cfg, int(train[1].shape[0]))
    for epoch in range(first, cfg.training.epochs + 1):
        stage = greedy_stage(model, epoch, cfg.training.epochs, cfg.training.stage_epochs)
        losses = train_epoch(model, params, opt, train, cfg, epoch, stage, chunk, xp,
                             desc(epoch) if desc else None)
        if after_epoch(epoch, stage, losses):
            break


# A step that overflows makes NaNs in every later step of its block of 50; NumPy would warn
# at each, burying the one line that _check_finite gives (the epoch and the first bad step).
@np.errstate(over="ignore", invalid="ignore", divide="ignore")
def train_epoch(model, params, opt, train, cfg, epoch, stage, chunk, xp, desc=None):
    """One pass over `train` = (x, y) in minibatches of cfg.training.batch_size, shuffled unless
    cfg.training.shuffle is False (then in the data's order, as the authors' code does); updates
    `params` in place, GreedyIMB's frozen layers of `stage` untouched.

    Shuffling uses the host generator (seed, 0, epoch) and the noise the generator
    (seed, 1, epoch), so an epoch is a pure function of its inputs. Each minibatch is
    split into chunks of at most `chunk` examples whose gradients are summed weighted by
    their share of the batch. Returns the step losses on the host; a NaN or infinity
    raises UserError naming the epoch and step. A progress bar labelled `desc` unless
    desc is None or cfg.where.quiet.
    """
    x, y = train
    seed, clip, frozen = cfg.training.seed, cfg.training.clip, model.frozen(stage)
    n = int(y.shape[0])
    batch = min(cfg.training.batch_size, n)
    quiet = cfg.where.quiet or desc is None
    steps = math.ceil(n / batch)
    perm = xp.asarray(np.random.default_rng(
        np.random.SeedSequence(seed, spawn_key=(Stream.SHUFFLE, epoch))).permutation(n)
        if cfg.training.shuffle else np.arange(n))
    noise = make_rng(xp, seed, Stream.TRAIN_NOISE, epoch)
    losses = []
    with progress_bar(steps, desc or "", quiet) as bar:
        for step in range(steps):
            idx = perm[step * batch:(step + 1) * batch]
            xb, yb = x[idx], y[idx]
            B = int(idx.shape[0])
            loss, grads = 0.0, None
            for start in range(0, B, chunk):
                xc, yc = xb[start:start + chunk], yb[start:start + chunk]
                out = model.loss_and_grads(params, xc, yc, noise, stage)
                share = xc.shape[0] / B
                loss = loss + share * out["loss"]
                if share == 1:                            # one chunk: no copy
                    grads = out["grads"]
                elif grads is None:
                    grads = {k: share * g for k, g in out["grads"].items()}
                else:
                    for k, g in out["grads"].items():
                        grads[k] += share * g
            clip_global_norm(grads, clip, frozen)
            opt.step(params, grads, frozen)
            losses.append(loss)
            bar.update(1)
            if (step + 1) % 50 == 0 and step + 1 < steps:    # the last: below
                host = _check_finite(losses, epoch, xp)      # one transfer per 50 steps
                if not quiet:
                    bar.set_postfix(loss=f"{host[-1]:.4f}")
    return _check_finite(losses, epoch, xp)


def _check_finite(losses, epoch, xp):
    """Bring the step losses to the host; name the first non-finite one."""
    host = to_numpy(xp.stack([xp.asarray(l) for l in losses]))
    bad = np.flatnonzero(~np.isfinite(host))
    if bad.size:
        # A resumed run keeps its settings and replays bit for bit, so it would meet the
        # same NaN: the way on is a new run.
        what_now = (f"the checkpoint of epoch {epoch - 1} is kept, but resuming would repeat "
                    f"this; start a new run with a lower --lr or with --clip" if epoch > 1
                    else "no checkpoint was written; start again with a lower --lr or with "
                    "--clip")
        raise UserError(f"the loss became {host[bad[0]]} at epoch {epoch}, step {bad[0] + 1}; "
                        f"{what_now}")
    return host


def _describe(record):
    parts = [f"epoch {record['epoch']}"]
    if "stage" in record:
        parts.append(f"stage {record['stage']}")
    parts.append(f"train_loss {record['train_loss']:.4f}")
    if "val_error" in record:
        parts.append(f"val_error {record['val_error']:.4f}")
    parts.append(f"test_error {record['test_error']:.4f}")
    parts.append(f"{record['time_s']:.1f}s")
    return "  ".join(parts)


def final_evaluation(cfg, model, params, data, xp):
    """summary.json's figures: test error over --test-runs passes and mean-field error."""
    dtype = np.dtype(cfg.training.dtype)
    x_test, y_test = xp.asarray(data.test.x, dtype=dtype), xp.asarray(data.test.y)
    runs = cfg.network.test_runs if model.kind.stochastic else 1
    res = evaluate(model, params, x_test, y_test, xp, cfg.training.seed, (9,), runs,
                   cfg.where.max_memory)
    return {"test_error_mean": res["error_mean"], "test_error_std": res["error_std"],
            "test_errors": res["errors"], "meanfield_test_error": res["meanfield_error"],
            "test_runs": runs}
