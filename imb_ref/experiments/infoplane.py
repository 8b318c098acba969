"""Learning dynamics on the information plane (Section 5.3, Figures 1 and 2).

Trains the 12-10-8-6-4-2 binary stochastic network on the 12-bit task with SFNN,
JointIMB and GreedyIMB, several seeds each, and at log-spaced epochs computes
I(Z_l;X) and I(Z_l;Y) in bits *exactly*, by enumerating every state of every layer over
the whole input distribution (X uniform over the 4096 patterns; imb_ref.exact), as the
paper does ("we could precisely compute the (true) compression and relevance").

At every measurement the data-processing inequalities of the Markov chain
Y -> X -> Z_1 -> ... -> Z_L must hold: I(Z_l;X) >= I(Z_{l+1};X) and I(Z_l;Y) <= I(X;Y).
A violation stops the run with an error (it would mean a bug in the enumeration).

Outputs in the run folder: infoplane.csv (model,seed,epoch,layer,I_X,I_Y) with the rows
of every complete (model, seed) pair, runs.json (each pair's loss and test errors),
infoplane.png (Figure 1's panels), and summary.json / summary.md (the paper's claims
against what this run shows; infoplane_report.py reads the CSV and writes these).

A pair in progress keeps its rows in parts/<model>-<seed>.csv, written row by row, and
its parameters and optimiser state in parts/<model>-<seed>.npz, saved every
CHECKPOINT_EVERY epochs and at each measurement. Rerunning the same command with the same
--output-dir skips the complete pairs and continues the others from their checkpoints,
with the numbers of an uninterrupted run; a complete pair's rows move to infoplane.csv.

Each (model, seed) is a pure function of its seed, so `jobs` > 1 trains several at once,
one per worker process (NumPy, one BLAS thread each): the paper's protocol is 15 of them.
The numbers are the same as with jobs = 1.
"""

import csv
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from ..training import checkpoint
from ..backend import make_rng, to_numpy
from ..data import synthetic12
from ..errors import UserError
from ..training.evaluate import chunk_size, error_rate
from ..exact import information_plane, predictive_distribution
from ..files import atomic_write, run_folder, write_json
from ..info import mutual_information
from ..streams import Stream
from ..gpu.launch import optimizer_kernels
from ..optim import make_optimizer
from ..training.loop import progress_bar, run_epochs
from ..training.run_state import RunState
from ..models import models_in, tree_models
from ..training.settings import MAX_POINTS, RunSettings, check_seeds, split_list
from ..training.experiment import describe, output_folder
from .pair_progress import PairProgress
from .infoplane_report import (plot, read_seeds, seed_mean, summarize, summarize_seeds,
                               summary_markdown, training_label)

CSV_COLUMNS = ("model", "seed", "epoch", "layer", "I_X", "I_Y")
DPI_TOL = 1e-9      # bits; enumeration sums of 4096 x 1024 float64 terms round at ~1e-12


def measurement_epochs(epochs, points):
    """0, then about `points` log-spaced epochs up to `epochs` (always included)."""
    if epochs <= 0:
        return [0]
    grid = np.unique(np.round(np.logspace(0, math.log10(epochs), points)).astype(int))
    return [0] + [int(e) for e in grid if 1 <= e <= epochs]


def whole_distribution(x_all, y_all):
    """The inputs, labels and weights of the task's full distribution (X uniform)."""
    n = len(y_all)
    return x_all, y_all, np.full(n, 1.0 / n)


def label_information(y_all, w_all):
    """I(X;Y) in bits for the table p(x, y) = w_x 1[y = y_x] (H(Y) for a rule)."""
    return mutual_information(np.stack([w_all * (y_all == c) for c in (0, 1)], axis=1))


def check_data_processing(plane, i_xy, where):
    """Raise UserError if I(Z_l;X) < I(Z_{l+1};X) or I(Z_l;Y) > I(X;Y) anywhere."""
    for l in range(len(plane) - 1):
        if plane[l][0] < plane[l + 1][0] - DPI_TOL:
            raise UserError(f"data-processing check failed at {where}: I(Z_{l + 1};X) = "
                            f"{plane[l][0]:.6f} < I(Z_{l + 2};X) = {plane[l + 1][0]:.6f} bits")
    for l, (_, i_y) in enumerate(plane):
        if i_y > i_xy + DPI_TOL:
            raise UserError(f"data-processing check failed at {where}: I(Z_{l + 1};Y) = "
                            f"{i_y:.6f} > I(X;Y) = {i_xy:.6f} bits")


def completed_runs(csv_path, final_epoch):
    """(model, seed) pairs whose final epoch is already in the CSV."""
    done = set()
    if os.path.exists(csv_path):
        with open(csv_path) as fh:
            for row in csv.DictReader(fh):
                if int(row["epoch"]) == final_epoch:
                    done.add((row["model"], int(row["seed"])))
    return done


def _drop_partial(csv_path, done):
    """Keep only the rows of completed (model, seed) pairs before resuming."""
    if not os.path.exists(csv_path):
        return
    with open(csv_path) as fh:
        rows = [r for r in csv.DictReader(fh) if (r["model"], int(r["seed"])) in done]
    with open(csv_path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


CHECKPOINT_EVERY = 100      # epochs; a pair is also saved at every measurement


def train_and_measure(cfg, model, data, xp, seed, epochs, points, write_row, on_epoch=None,
                      checkpoint_path=None):
    """Train one (model, seed) and measure the information plane along the way;
    `on_epoch(epoch)`, if given, is called after each epoch (the pair's progress).

    Every exact measurement is over the task the network is trained on: the built-in
    rule, or the file given with --data-file (cfg.data_file). With `checkpoint_path`,
    the pair's parameters and optimiser state are saved there every CHECKPOINT_EVERY
    epochs and at each measurement, and a pair that finds a checkpoint continues from it.
    Epoch e's shuffle and noise are functions of (seed, e), so a continued pair gives
    the numbers of an uninterrupted one. Returns the final loss and two test errors:
    the Monte Carlo prediction's (M = cfg.test_samples) and the exact predictive
    distribution's (the sum over every state of the last layer)."""
    dtype = np.dtype(cfg.dtype)
    x_all, y_all, w_all = whole_distribution(*synthetic12.load_task(cfg.data_file))
    i_xy = label_information(y_all, w_all)
    x_train = xp.asarray(data.train.x, dtype=dtype)
    y_train = xp.asarray(data.train.y)
    batch = min(cfg.batch_size, len(data.train))
    chunk = chunk_size(model, dtype.itemsize, cfg.max_memory, batch, training=True)
    opt = make_optimizer(cfg.optimizer, cfg.lr, momentum=cfg.momentum,
                         kernels=optimizer_kernels(xp, cfg.fused))
    todo = set(measurement_epochs(epochs, points))
    pair = replace(cfg, model=model.name, seed=seed, epochs=epochs)    # the pair's identity
    settings = {**pair.to_dict(), "points": points}
    saved = load_pair(checkpoint_path, pair, points)
    if saved is not None:
        checkpoint.check_against(checkpoint_path, saved, model)

    def measure(epoch):
        host = {k: to_numpy(v).astype(np.float64) for k, v in params.items()}
        plane = information_plane(host, x_all, y_all, w_all, n_classes=2)
        check_data_processing(plane, i_xy, f"{model.name}, seed {seed}, epoch {epoch}")
        for l, (i_x, i_y) in enumerate(plane, start=1):
            write_row({"model": model.name, "seed": seed, "epoch": epoch, "layer": l,
                       "I_X": f"{i_x:.10f}", "I_Y": f"{i_y:.10f}"})
        return plane

    run = RunState(checkpoint_path)
    params, _, meta = run.init_or_resume(model, seed, dtype, xp, opt, saved)
    first, last_loss = meta["epoch"] + 1, meta.get("loss")
    if saved is None:
        measure(0)
    bar = progress_bar(epochs, f"{model.name} seed {seed}", cfg.quiet, unit="epoch",
                       initial=first - 1)
    state = {"loss": last_loss}

    def after_epoch(epoch, stage, losses):
        """The experiment's hook on the training loop: measure, checkpoint."""
        state["loss"] = float(np.mean(losses))
        bar.update(1)
        if on_epoch is not None:
            on_epoch(epoch)
        if epoch in todo:
            plane = measure(epoch)
            bar.set_postfix(loss=f"{state['loss']:.3f}", I_Y1=f"{plane[0][1]:.3f}")
        if checkpoint_path and (epoch in todo or epoch % CHECKPOINT_EVERY == 0):
            run.save(params, {}, opt, {"epoch": epoch, "loss": state["loss"],
                                       "settings": settings})
        return False

    run_epochs(model, params, opt, x_train, y_train, batch, chunk, cfg, first, epochs, seed,
               xp, after_epoch)
    bar.close()
    last_loss = state["loss"]
    x_test, y_test = xp.asarray(data.test.x, dtype=dtype), xp.asarray(data.test.y)
    rng = make_rng(xp, seed, Stream.INFOPLANE_TEST)
    err = error_rate(lambda xb: model.predict_proba(params, xb, rng), x_test, y_test,
                     chunk_size(model, dtype.itemsize, cfg.max_memory, 4096, training=False))
    return {"final_loss": last_loss, "test_error": err,
            "exact_test_error": exact_error(params, data.test.x, data.test.y)}


def load_pair(path, pair, points):
    """checkpoint.load's (params, best, optimiser state, meta) of a pair's checkpoint,
    or None if there is none;
    a checkpoint made with other settings (RunSettings ==, and the measurement epochs)
    is refused, naming the first that differs. A checkpoint saved before the pair kept
    all its settings holds those that change its trajectory; the others are taken to be
    this run's."""
    if not path or not os.path.exists(path):
        return None
    loaded = checkpoint.load(path)
    meta = loaded[3]
    saved = RunSettings.from_dict(meta["settings"], missing=pair)
    differ = pair.differences(saved)
    saved_points = meta["settings"].get("points", points)
    if saved_points != points:
        differ.append(("points", points, saved_points))
    for key, ours, theirs in differ[:1]:
        raise UserError(f"{path} was trained with {key} = {theirs!r}, this run asks for "
                        f"{ours!r}: use the same settings or another --output-dir")
    return loaded


def exact_error(params, x, y):
    """The error of the network's exact prediction argmax_y p(y|x) on (x, y)."""
    host = {k: to_numpy(v).astype(np.float64) for k, v in params.items()}
    probs = predictive_distribution(host, np.asarray(x, dtype=np.float64))
    return float(np.mean(probs.argmax(axis=1) != np.asarray(y)))


def run_experiment(cfg, models, seeds, data, xp, out_dir, points=30, log=None, jobs=1):
    """Train every (model, seed), write infoplane.csv, the figure and the summary;
    `jobs` > 1: that many (model, seed) pairs at once, in worker processes (NumPy).
    `log` prints a line (default: tqdm's, which keeps an open progress bar intact)."""
    if log is None:
        from tqdm import tqdm
        log = tqdm.write
    os.makedirs(out_dir, exist_ok=True)
    csv_path = os.path.join(out_dir, "infoplane.csv")
    done = completed_runs(csv_path, cfg.epochs)
    _drop_partial(csv_path, done)
    new_file = not os.path.exists(csv_path)
    results_path = os.path.join(out_dir, "runs.json")
    results = json.load(open(results_path)) if os.path.exists(results_path) else {}
    # Seed by seed, every model of a seed before the next seed: the models of one seed
    # are compared with each other (summarize_seeds pairs them), so an experiment
    # stopped part-way has whole seeds to compare.
    todo = []
    for seed in seeds:
        for name in models:
            if (name, seed) in done:
                log(f"{name} seed {seed}: already complete in {csv_path}, skipped")
            else:
                todo.append((name, seed))
    with open(csv_path, "a", newline="") as fh:
        if new_file:
            csv.DictWriter(fh, CSV_COLUMNS).writeheader()
        write_row = _row_writer(fh)
        progress = PairProgress([f"{name} seed {seed}" for name, seed in todo], cfg.epochs,
                                cfg.quiet)
        if jobs > 1 and len(todo) > 1:
            finished = _run_in_workers(cfg, todo, data, points, out_dir, jobs, progress)
        else:
            finished = _run_here(cfg, todo, data, xp, points, out_dir, progress)
        reported = []
        for name, seed, res in finished:
            _merge_pair(out_dir, name, seed, write_row)
            results[f"{name}/{seed}"] = res
            write_json(results_path, results)
            if not cfg.quiet:
                log(f"{name} seed {seed}: {cfg.epochs} epochs in {res['wall_s']}s, "
                    f"test error {100 * res['exact_test_error']:.1f}% exact, "
                    f"{100 * res['test_error']:.1f}% sampled (M = {cfg.test_samples})")
            done.add((name, seed))
            whole = [s for s in seeds if all((m, s) in done for m in models)]
            if whole != reported and whole != list(seeds):     # a seed more, run not done
                write_report(cfg, models, seeds, out_dir, results, whole)
                reported = whole
    parts = os.path.join(out_dir, "parts")
    if os.path.isdir(parts) and not os.listdir(parts):
        os.rmdir(parts)
    return write_report(cfg, models, seeds, out_dir, results, list(seeds))


def write_report(cfg, models, seeds, out_dir, results, whole):
    """summary.json, summary.md and infoplane.png over the seeds `whole` (those every
    model has complete): all of `seeds` at the end, fewer while the run is in progress,
    so a long run shows its whole seeds so far."""
    by_seed = {key: {s: c for s, c in curves.items() if s in whole}
               for key, curves in read_seeds(os.path.join(out_dir, "infoplane.csv")).items()
               if key[0] in models}
    table = seed_mean(by_seed)
    summary = summarize(table, models, cfg.epochs)
    summary["over_seeds"] = summarize_seeds(by_seed, models)
    summary["I_XY"] = label_information(*whole_distribution(
        *synthetic12.load_task(cfg.data_file))[1:])
    for key in ("test_error", "exact_test_error"):
        summary[key] = {name: _seed_mean(results, key, name, whole) for name in models}
    partial = whole != list(seeds)
    if partial:
        summary["in_progress"] = {"seeds_complete": list(whole), "seeds": list(seeds)}
    write_json(os.path.join(out_dir, "summary.json"), summary)
    with atomic_write(os.path.join(out_dir, "summary.md")) as fh:
        fh.write(summary_markdown(summary, cfg, whole))
    title = figure_title(cfg, len(whole))
    if partial:
        title += f" (in progress: {len(whole)} of {len(seeds)} seeds)"
    plot(table, models, os.path.join(out_dir, "infoplane.png"), cfg.epochs, title=title,
         by_seed=by_seed)
    return summary


def figure_title(cfg, n_seeds):
    """'Information plane, 12-bit task (icosahedral rule): 300 epochs, 1 seed, exact
    objective, adam lr 0.01, batch 64'."""
    task = (f"12-bit task ({os.path.basename(cfg.data_file)})" if cfg.data_file
            else "12-bit task (icosahedral rule)")
    seeds = "1 seed" if n_seeds == 1 else f"mean of {n_seeds} seeds (faint: each seed)"
    return (f"Information plane, {task}: {cfg.epochs:,} epochs, {seeds}, "
            f"{training_label(cfg)}")


def _seed_mean(results, key, name, seeds):
    """Mean of runs.json's `key` over the seeds that have it (None if none has)."""
    values = [results[f"{name}/{s}"][key] for s in seeds
              if key in results.get(f"{name}/{s}", {})]
    return float(np.mean(values)) if values else None


def _row_writer(fh):
    """write_row(row) for a CSV open for writing: each row flushed at once, so an
    interrupted run keeps every row it measured."""
    writer = csv.DictWriter(fh, CSV_COLUMNS)

    def write_row(row):
        writer.writerow(row)
        fh.flush()
    return write_row


# ---- one (model, seed) pair: its rows and checkpoint under parts/ until it is complete ----
def pair_paths(out_dir, name, seed):
    """parts/<model>-<seed>.csv (its rows, no header) and .npz (its checkpoint)."""
    stem = os.path.join(out_dir, "parts", f"{name}-{seed}")
    return stem + ".csv", stem + ".npz"


def _train_pair(cfg, name, seed, data, xp, points, out_dir, on_epoch=None):
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
        write_row = _row_writer(fh)
        for row in rows:
            write_row(row)
        t0 = time.time()
        res = train_and_measure(cfg, build(name, cfg), data, xp, seed, cfg.epochs, points,
                                write_row, on_epoch, checkpoint_path=ckpt)
    res["wall_s"] = round(time.time() - t0, 1)
    return res


def _merge_pair(out_dir, name, seed, write_row):
    """Move a complete pair's rows from its part file into infoplane.csv (through
    write_row) and remove the part file and its checkpoint."""
    part, ckpt = pair_paths(out_dir, name, seed)
    with open(part, newline="") as fh:
        for row in csv.DictReader(fh, CSV_COLUMNS):
            write_row(row)
    os.remove(part)
    if os.path.exists(ckpt):
        os.remove(ckpt)


def _run_here(cfg, todo, data, xp, points, out_dir, progress):
    """The (model, seed) pairs one after another in this process; yields (model, seed,
    results) as each finishes. `progress` (a PairProgress) shows each pair's epochs."""
    quiet_cfg = replace(cfg, quiet=True)        # the pair's own bar: progress has one
    try:
        for i, (name, seed) in enumerate(todo):
            yield name, seed, _train_pair(quiet_cfg, name, seed, data, xp, points, out_dir,
                                          lambda epoch, i=i: progress.update(i, epoch))
    finally:
        progress.close()


# ---- several (model, seed) pairs at once --------------------------------------------------
BLAS_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_EPOCHS_DONE = None       # in a worker: each pair's last finished epoch, shared with the parent


def _init_worker(counter):
    """Worker start-up: Ctrl-C is the parent's to handle (it ends the pool); share the
    epoch counts. tqdm's (disabled) bars get a thread lock instead of the interprocess
    one they would create, which a stopped worker could not release."""
    global _EPOCHS_DONE
    import threading

    from tqdm import tqdm
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    tqdm.set_lock(threading.RLock())
    _EPOCHS_DONE = counter


def _report_epoch(i, epoch):
    _EPOCHS_DONE[i] = epoch            # one writer per slot: no lock needed


def _train_pair_in_worker(cfg, i, name, seed, data, points, out_dir):
    """Pair i, one (model, seed), in a worker process, its rows in its own part file."""
    return _train_pair(cfg, name, seed, data, np, points, out_dir,
                       lambda epoch: _report_epoch(i, epoch))


def _run_in_workers(cfg, todo, data, points, out_dir, jobs, progress):
    """The (model, seed) pairs in `jobs` worker processes; yields (model, seed, results)
    as each finishes, and shows each pair's epochs in `progress` (a PairProgress). A
    worker's error (a failed check, a NaN) is raised here after the pool is stopped;
    finished pairs stay finished, and a rerun continues the others from their
    checkpoints."""
    ctx = multiprocessing.get_context("spawn")      # fresh interpreters: no forked threads
    counter = ctx.Array("q", len(todo), lock=False)
    quiet_cfg = replace(cfg, quiet=True)
    saved = {k: os.environ.get(k) for k in BLAS_THREAD_VARS}
    os.environ.update({k: "1" for k in BLAS_THREAD_VARS})     # inherited by the workers
    jobs = min(jobs, len(todo))
    try:
        pool = ctx.Pool(jobs, initializer=_init_worker, initargs=(counter,))
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    try:
        pending = {pool.apply_async(_train_pair_in_worker,
                                    (quiet_cfg, i, name, seed, data, points, out_dir)):
                   (name, seed) for i, (name, seed) in enumerate(todo)}
        while pending:
            progress.update_all(counter[:])
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


def build(name, cfg):
    """The model `name` with the run's configuration, on the 12-bit task's shapes."""
    from ..training.experiment import build_model
    return build_model(replace(cfg, model=name), synthetic12.N_BITS, 2)


@dataclass(frozen=True)
class InfoplaneSettings:
    """`python run.py infoplane`: the pairs' run settings (each pair is `run` with its
    model and seed; run.seed is the first seed), which models and seeds, how many
    measurements, how many pairs at once. Without a preset it is the embedded demo."""
    run: RunSettings
    models: str = None      # None: the models of Section 5.3, read from their rows
    seeds: int = 1
    points: int = 16
    jobs: int = max(1, min(3, os.cpu_count() or 1))     # the cores here, up to 3 pairs
    preset: str = None
    output_dir: str = None
    EPOCHS = 300        # the demo's length: a few minutes on 2 CPU cores
    # Section 5.3's protocol: 20,000 epochs, 5 initialisations, 30 measurements.
    PRESETS = {"paper": {"epochs": 20000, "seeds": 5, "points": 30}}

    @classmethod
    def from_flags(cls, flags):
        from ..backend import default_backend
        flags = dict(flags)
        preset = flags.pop("preset", None)
        layered = {"epochs": cls.EPOCHS, **cls.PRESETS.get(preset, {}), **flags,
                   "dataset": "synthetic12"}
        own = {k: layered.pop(k) for k in ("models", "seeds", "points", "jobs", "output_dir")
               if k in layered}
        own.setdefault("models", ",".join(cls.default_models()))   # the rows, read now
        layered.setdefault("backend", default_backend())
        if layered["backend"] == "cupy" and "jobs" not in flags:
            own["jobs"] = 1                 # one process drives the GPU
        return cls(RunSettings.from_flags(layered).check(), preset=preset, **own).check()

    def check(self):
        self.model_list()
        if not 1 <= self.points <= MAX_POINTS:
            raise UserError(f"--points {self.points}: must be between 1 and {MAX_POINTS:,} "
                            f"(log-spaced epochs; a run has at most --epochs + 1 to measure)")
        check_seeds(self.seeds)
        if self.jobs < 1:
            raise UserError(f"--jobs {self.jobs}: must be at least 1")
        if self.jobs > 1 and self.run.backend == "cupy":
            raise UserError("--jobs: the worker processes run NumPy; with --backend cupy "
                            "use --jobs 1 (one process drives the GPU)")
        return self

    @staticmethod
    def default_models():
        return models_in("infoplane")

    def model_list(self):
        if self.models is None:
            return list(self.default_models())
        models = split_list(self.models, "--models", "sfnn,jointimb")
        bad = [m for m in models if m not in tree_models()]
        if bad or not models:
            raise UserError(f"--models {self.models!r}: choose from {', '.join(tree_models())}")
        return models

    def seed_list(self):
        return list(range(self.run.seed, self.run.seed + self.seeds))


def command(settings, xp, data):
    """`python run.py infoplane`: SFNN, JointIMB, GreedyIMB on the 12-bit task, the exact
    information plane (Section 5.3); the checks, the folder, Ctrl-C's one line."""
    cfg, models, seeds = settings.run, settings.model_list(), settings.seed_list()
    for name in models:                     # fail before creating anything
        for training in (True, False):
            chunk_size(build(name, cfg), np.dtype(cfg.dtype).itemsize,
                       cfg.max_memory, 1, training)
    out_dir = output_folder(settings.output_dir, "infoplane")
    model = build(models[0], cfg)
    describe(cfg, xp, data, model, out_dir, models)
    print(f"experiment: information plane, models {', '.join(models)}, seeds {seeds}, "
          f"{cfg.epochs} epochs, exact I(Z_l;X) and I(Z_l;Y) at {settings.points} log-spaced "
          f"epochs" + (f", preset {settings.preset}" if settings.preset else ""), flush=True)
    try:
        with run_folder(out_dir):
            write_json(os.path.join(out_dir, "config.json"), asdict(settings))
            run_experiment(cfg, models, seeds, data, xp, out_dir, settings.points,
                           jobs=settings.jobs)
    except KeyboardInterrupt:
        if not os.path.isdir(out_dir):          # run_folder removed what it made
            print("interrupted before any (model, seed) pair wrote a checkpoint: nothing "
                  "was kept; run the same command to start again", file=sys.stderr)
            return 130
        print(f"interrupted: complete (model, seed) pairs are kept in "
              f"{os.path.join(out_dir, 'infoplane.csv')} and the others' last checkpoints "
              f"in {os.path.join(out_dir, 'parts')}; rerun the same python run.py "
              f"infoplane command with --output-dir {out_dir} to continue", file=sys.stderr)
        return 130
    print(open(os.path.join(out_dir, "summary.md")).read(), flush=True)
    print(f"wrote {os.path.join(out_dir, 'infoplane.png')}, infoplane.csv and summary.md "
          f"in {out_dir}", flush=True)
    return 0
