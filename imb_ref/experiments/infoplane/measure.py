"""Measuring one (model, seed) pair: training with the experiment's hook on the one loop,
and at log-spaced epochs I(Z_l;X) and I(Z_l;Y) in bits, exactly, by enumerating every
state of every layer over the whole input distribution (X uniform over the 4096
patterns; imb_ref.exact), with the data-processing inequalities checked each time."""

import math
import os

import numpy as np

from ...backend import make_rng, to_numpy
from ...data import synthetic12
from ...errors import UserError
from ...flags import show
from ...exact import information_plane, predictive_distribution
from ...gpu.launch import optimizer_kernels
from ...info import mutual_information
from ...optim import make_optimizer
from ...streams import Stream
from ...training import checkpoint
from ...training.evaluate import chunk_size, error_rate
from ...training.loop import progress_bar, run_epochs
from ...training.run_state import RunState
from ...training.settings import RunSettings

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


CHECKPOINT_EVERY = 100      # epochs; a pair is also saved at every measurement


def train_and_measure(cfg, model, data, xp, seed, epochs, points, write_row, on_epoch=None,
                      checkpoint_path=None):
    """Train one (model, seed) and measure the information plane along the way;
    `on_epoch(epoch)`, if given, is called after each epoch (the pair's progress).

    Every exact measurement is over the task the network is trained on: the built-in
    rule, or the file given with --data-file (cfg.data.data_file). With `checkpoint_path`,
    the pair's parameters and optimiser state are saved there every CHECKPOINT_EVERY
    epochs and at each measurement, and a pair that finds a checkpoint continues from it.
    Epoch e's shuffle and noise are functions of (seed, e), so a continued pair gives
    the numbers of an uninterrupted one. Returns the final loss and two test errors:
    the Monte Carlo prediction's (M = cfg.network.test_samples) and the exact predictive
    distribution's (the sum over every state of the last layer)."""
    # The pair's own run settings: everything below reads its seed and length here.
    pair = cfg.replace(model=model.name, seed=seed, epochs=epochs)
    dtype = np.dtype(pair.training.dtype)
    x_all, y_all, w_all = whole_distribution(*synthetic12.load_task(pair.data.data_file))
    i_xy = label_information(y_all, w_all)
    train = (xp.asarray(data.train.x, dtype=dtype), xp.asarray(data.train.y))
    opt = make_optimizer(pair.training.optimizer, pair.training.lr, momentum=pair.training.momentum,
                         kernels=optimizer_kernels(xp, pair.where.fused))
    todo = set(measurement_epochs(epochs, points))
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
    first = meta["epoch"] + 1
    if saved is None:
        measure(0)
    bar = progress_bar(epochs, f"{model.name} seed {seed}", pair.where.quiet, unit="epoch",
                       initial=first - 1)
    state = {"loss": meta["state"].get("loss"), "points": points}

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
            run.save(params, {}, opt, epoch, pair, state)
        return False

    run_epochs(model, params, opt, train, pair, xp, after_epoch, first=first)
    bar.close()
    x_test, y_test = xp.asarray(data.test.x, dtype=dtype), xp.asarray(data.test.y)
    rng = make_rng(xp, seed, Stream.INFOPLANE_TEST)
    err = error_rate(lambda xb: model.predict_proba(params, xb, rng), x_test, y_test,
                     chunk_size(model, dtype.itemsize, pair.where.max_memory, 4096, training=False))
    return {"final_loss": state["loss"], "test_error": err,
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
    saved = RunSettings.from_dict(meta["config"], missing=pair)
    differ = pair.differences(saved)
    saved_points = meta["state"].get("points", points)
    if saved_points != points:
        differ.append(("points", points, saved_points))
    for key, ours, theirs in differ[:1]:
        raise UserError(f"{path} was trained with {key} = {show(theirs)}, this run asks "
                        f"for {show(ours)}: use the same settings or another --output-dir")
    return loaded


def exact_error(params, x, y):
    """The error of the network's exact prediction argmax_y p(y|x) on (x, y)."""
    host = {k: to_numpy(v).astype(np.float64) for k, v in params.items()}
    probs = predictive_distribution(host, np.asarray(x, dtype=np.float64))
    return float(np.mean(probs.argmax(axis=1) != np.asarray(y)))


def build(name, cfg):
    """The model `name` with the run's configuration, on the 12-bit task's shapes."""
    from ...training.run import build_model
    return build_model(cfg.replace(model=name), synthetic12.N_BITS, 2)
