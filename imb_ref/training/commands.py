"""The `train` and `golden` commands: their settings (TrainSettings, GoldenSettings),
built from the parser's flags and checked, and what each does."""

import os
import shlex
import sys
from dataclasses import dataclass

import numpy as np

from .. import backend, golden
from ..data import SOURCES
from ..errors import UserError
from ..files import check_writable_file, run_folder
from ..flags import flag, parser, take, unparse
from ..models import sbn
from ..nn.bernoulli import SURROGATES
from ..streams import init_rng
from . import checkpoint
from .evaluate import chunk_size
from .metrics import check_metrics
from .run import build_model, describe, output_folder, train_run
from .settings import RunSettings, check_backend, load


@dataclass(frozen=True)
class TrainSettings:
    """`python run.py train`: one run's settings, and where it goes or which folder it
    continues."""
    run: RunSettings
    output_dir: str = flag(None, "run folder", "output",
                           default_text="runs/<dataset>-<model>-<time>")
    resume: str = flag(None, "continue the run saved in DIR, a run folder or its "
                       "checkpoint.npz (its configuration is reused; --epochs may extend "
                       "it)", "output", metavar="DIR")

    @classmethod
    def from_flags(cls, flags):
        """From the train parser's flags, checked. With --resume the settings are the
        run's own (its checkpoint's copy of config.json), changed only where
        RunSettings.resumed_with allows."""
        flags = dict(flags)
        own = take(cls, flags)
        output_dir, resume = own.get("output_dir"), own.get("resume")
        if resume is None:
            return cls(RunSettings.from_flags(flags).check(), output_dir)
        saved = RunSettings.from_dict(checkpoint.load(resume)[3]["config"])
        folder = os.path.dirname(checkpoint.resolve_path(resume))
        return cls(saved.resumed_with(flags, folder).check(), folder, resume)


def prepare_output(given, cfg, resuming):
    out_dir = output_folder(given, f"{cfg.data.dataset}-{cfg.network.model}")
    if not resuming and os.path.exists(os.path.join(out_dir, checkpoint.FILENAME)):
        raise UserError(f"--output-dir {out_dir} already holds a run; continue it with "
                        f"python run.py train --resume {out_dir} or choose another folder")
    return out_dir


def train_command(settings):
    """`python run.py train`: a new run, or --resume DIR with the run's own settings.
    Ctrl-C says what was kept and how to continue."""
    cfg = settings.run
    xp = backend.resolve(cfg.where.backend)
    check_backend(cfg, xp)
    data = load(cfg)
    model = build_model(cfg, data.n_features, data.n_classes)
    resume = None
    if settings.resume is not None:         # its arrays must fit the network it names
        path = checkpoint.resolve_path(settings.resume)
        resume = checkpoint.load(path)
        checkpoint.check_against(path, resume, model)
        check_metrics(os.path.join(settings.output_dir, "metrics.jsonl"))
    for training in (True, False):          # fail before creating anything
        chunk_size(model, np.dtype(cfg.training.dtype).itemsize, cfg.where.max_memory, 1, training)
    out_dir = prepare_output(settings.output_dir, cfg, resume is not None)
    describe(cfg, xp, data, model, out_dir)
    try:
        with run_folder(out_dir):
            summary = train_run(cfg, model, data, xp, out_dir, resume=resume)
    except KeyboardInterrupt:
        print(interrupted(out_dir), file=sys.stderr)
        return 130
    print(result_line(cfg.data.dataset, summary) + f"; wrote {out_dir}", flush=True)
    return 0


def interrupted(out_dir):
    """Ctrl-C's one line: the checkpoint kept and the command that continues from it,
    or, before the first checkpoint, that nothing was kept (run_folder removed it)."""
    if os.path.exists(os.path.join(out_dir, checkpoint.FILENAME)):
        return ("interrupted: the last completed epoch's checkpoint is kept; continue "
                f"with python run.py train --resume {out_dir}")
    return ("interrupted before the first epoch finished: no checkpoint was written and "
            f"{out_dir} was not kept; run the same command to start again")


def result_line(dataset, summary):
    """The test error, or the accuracy where the paper reports that (CIFAR10, Table 1),
    with the error beside it."""
    err, std = summary["test_error_mean"], summary["test_error_std"]
    mf, runs = summary["meanfield_test_error"], summary["test_runs"]
    if SOURCES[dataset].reported == "accuracy":
        return (f"test accuracy {100 * (1 - err):.2f}% +- {100 * std:.2f} over {runs} runs "
                f"(error {100 * err:.2f}%), mean-field accuracy {100 * (1 - mf):.2f}%")
    return (f"test error {100 * err:.2f}% +- {100 * std:.2f} over {runs} runs, mean-field "
            f"{100 * mf:.2f}%")


@dataclass(frozen=True)
class GoldenSettings:
    """`python run.py golden`: write the case of `run` (its data, network, M, weights,
    batch and seed) to `path`, or check the case `check` another framework wrote."""
    run: RunSettings = None
    path: str = flag(None, "the case to write", name="FILE.npz", nargs="?")
    check: str = flag(None, "instead of writing a case, check one written by any "
                      "framework: every tensor recomputed in float64 and compared in the "
                      "order of the computation; exit 0 if all agree, 1 if one does not, "
                      "2 if the case is malformed", metavar="CASE.npz")
    # The case's own wording of run settings, and its own defaults (from_flags).
    HELP = {"estimator": lambda: "the samples' surrogate, recorded in the case: "
                                 + ", ".join(SURROGATES),
            "batch_size": "examples in the case", "quiet": "no download progress"}
    DEFAULT_TEXT = {"estimator": "raiko, on every dataset",
                    "gammas": "gamma_l = 2^-l, a weight per layer",
                    "betas": "beta_l = l/10, a weight per layer"}

    @classmethod
    def from_flags(cls, flags):
        flags = dict(flags)
        own = take(cls, flags)
        path, check = own.get("path"), own.get("check")
        if check is not None:
            if flags or path is not None:
                other = f"--{sorted(flags)[0].replace('_', '-')}" if flags else path
                raise UserError(f"golden --check CASE.npz takes no other argument (got "
                                f"{other})")
            return cls(check=check)
        if path is None:
            raise UserError("golden: give the FILE.npz to write, or --check CASE.npz")
        check_writable_file(path, "golden FILE.npz")
        # A case is of the sampled tree: Raiko unless another pathwise estimator is
        # named (the 12-bit task's own default, exact, samples nothing).
        run = RunSettings.from_flags({"estimator": "raiko", **flags, "backend": "numpy"})
        if run.network.estimator not in SURROGATES:
            raise UserError(f"golden --estimator {run.network.estimator}: a case records a "
                            f"pathwise estimator, one of {', '.join(SURROGATES)}, which it "
                            f"writes and checks by name")
        # Distinct weights per layer, so that a twin that drops the gammas or reverses
        # the betas disagrees: gamma_l = 2^-l, beta_l = l / 10, unless given.
        L = len(run.network.hidden)
        defaults = {"gammas": tuple(2.0 ** -l for l in range(L + 1)),
                    "betas": tuple(l / 10 for l in range(1, L + 1))}
        run = run.replace(**{k: v for k, v in defaults.items() if k not in flags})
        return cls(run.check(), path)


def golden_command(settings):
    if settings.check is not None:
        return golden.check_file(settings.check)
    write_golden(settings.run, load(settings.run), settings.path)
    return 0


def write_golden(cfg, data, path):
    """One float64 case of the objective on the first examples of the training split."""
    model = build_model(cfg, data.n_features, data.n_classes)
    B = min(cfg.training.batch_size, len(data.train))
    # The case is one unchunked batch of the sampled tree (whatever --estimator says):
    # its uniforms and leaves must fit in memory.
    need = B * sbn.bytes_per_example(model.sizes, model.M, 8, True)
    if need > cfg.where.max_memory * 1024 ** 3:
        raise UserError(f"golden: a case of {B} examples at M={model.M} needs about "
                        f"{need / 1024 ** 3:.3g} GB (at most {cfg.where.max_memory} GB); lower "
                        f"--batch-size or --samples")
    rng = init_rng(cfg.training.seed)
    params = sbn.init_params(model.sizes, rng, np.float64)
    # Small random biases and prior logits so that every gradient is exercised.
    for k in params:
        if k.startswith(("b_", "rho_")):
            params[k] = rng.normal(0.0, 0.5, size=params[k].shape)
    x, y = data.train.x[:B].astype(np.float64), data.train.y[:B]
    uniforms = sbn.sample_uniforms(rng, B, model.M, model.sizes[1:-1], np.float64)
    case = golden.make_case(params, x, y, uniforms, model.M, model.gammas, model.betas,
                            cfg.network.estimator)
    golden.write_case(path, case)
    print(f"wrote {path}: loss {float(case['loss']):.12g} nats, B={B}, M={model.M}, "
          f"network {'-'.join(map(str, model.sizes))}")


RUN_PY = ("python", "run.py")


def train_line(cfg, folder, program=RUN_PY):
    """The `<program> train` command line that trains RunSettings `cfg` into `folder`
    (table1 --plan's lines): every setting spelled out, by the train parser's inverse.
    `program` is how the user ran the command line (cli.program())."""
    args = list(program) + ["train"] + unparse(parser("train", "", TrainSettings),
                                               cfg.to_dict()) + ["--output-dir", folder]
    return " ".join(shlex.quote(a) for a in args)


def resume_line(folder, program=RUN_PY):
    """The `<program> train --resume` line that continues the run in `folder`."""
    return " ".join(shlex.quote(a) for a in
                    list(program) + ["train", "--resume", folder, "--quiet"])
