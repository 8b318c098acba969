#!/usr/bin/env python3
"""imb_ref's command line: one command per job.

    python run.py                                  # the embedded demo (no download): a short
                                                   # information-plane run, a few minutes
    python run.py train --dataset mnist            # one model (default JointIMB)
    python run.py --backend cupy --dataset cifar10 # the same: `train` is the default command
    python run.py train --resume runs/mnist-...    # continue an interrupted run
    python run.py infoplane --preset paper         # Section 5.3 in full (20,000 epochs, 5 seeds)
    python run.py table1 --dataset mnist           # Table 1 (Section 5.1), the paper's protocol
    python run.py attack runs/mnist-jointimb-...   # Section 5.2: C&W L2 against a trained run
    python run.py golden case.npz                  # a reference case for cross-checks
    python run.py bench                            # time the objective against PyTorch

Each command has its own --help; a flag of another command is refused. Bad input ends
with one line on stderr and exit code 2.
"""

import argparse
import math
import os
import sys

import numpy as np

from imb_ref import backend, golden
from imb_ref.streams import init_rng
from imb_ref.training import checkpoint
from imb_ref.training.config import Config, parse_sizes, per_layer, resolve, split_list
from imb_ref.data import SOURCES, load_dataset
from imb_ref.errors import ArgumentParser, UserError
from imb_ref.training.evaluate import chunk_size
from imb_ref.training.metrics import check_metrics
from imb_ref.training.experiment import build_model, output_folder, train_run
from imb_ref.files import check_writable_file, run_folder, write_json
from imb_ref.gpu.fused import ESTIMATORS as FUSED_ESTIMATORS
from imb_ref.exact import max_transition_entries
from imb_ref.models import KINDS, MAX_EXACT_ENTRIES, TREE_MODELS, estimators, sbn
from imb_ref.optim import OPTIMIZERS
from imb_ref.experiments.table1 import MAX_SEEDS

D = Config()

COMMANDS = {
    "train": "train and evaluate one model: DET, VIB, SFNN, GreedyIMB or JointIMB",
    "infoplane": "Section 5.3: SFNN, JointIMB and GreedyIMB on the 12-bit task, the exact "
                 "information plane during training",
    "table1": "Table 1 (Section 5.1, Appendix D): the five models with the paper's "
              "selection and retraining protocol, optionally with the robustness columns",
    "attack": "Section 5.2: Carlini-Wagner L2 against a trained run",
    "golden": "write one float64 reference case of the objective for cross-checks, or "
              "check a case another framework wrote (--check)",
    "bench": "time one training step against PyTorch in the same process",
}

# `python run.py infoplane` without --preset is the embedded demo: a few minutes on 2 CPU
# cores, its three (model, seed) pairs side by side on as many cores as there are.
# `--preset paper` is Section 5.3's protocol: 20,000 epochs, 5 initialisations.
INFOPLANE_DEFAULT = {"epochs": 300, "seeds": 1, "points": 16,
                     "jobs": max(1, min(3, os.cpu_count() or 1))}
INFOPLANE_PRESETS = {"paper": {"epochs": 20000, "seeds": 5, "points": 30}}
EMBEDDED_DEFAULT = INFOPLANE_DEFAULT        # what `python run.py` alone runs

# Flags that were modes before the commands existed.
FORMER_MODES = {"--table1": "table1", "--export-golden": "golden", "--plan": "table1",
                "--checkpoint": "attack"}


def _parser(command):
    return ArgumentParser(prog=f"python run.py {command}",
                          description=COMMANDS[command] + ".", allow_abbrev=False,
                          argument_default=argparse.SUPPRESS)


def add_data(p, table1=False):
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=("mnist", "cifar10", "fashion-mnist") if table1
                   else tuple(SOURCES), help="dataset (default " + ("mnist" if table1 else
                   f"{D.dataset}: the 12-bit task, generated in code") + ")")
    g.add_argument("--data-dir", help="dataset cache folder (default $IMB_DATA, else "
                   "~/.cache/imb_ref)")
    g.add_argument("--data-file", help="synthetic12 only: the original var_u.mat (arrays F "
                   "and y) instead of our icosahedral task")
    g.add_argument("--val-size", type=int, help="last N training examples held out for "
                   "validation (default 10000 for image sets as in the paper, 0 for "
                   "synthetic12; 0 trains on everything)")
    g.add_argument("--limit-train", type=int, help="keep only the first N training examples")
    g.add_argument("--limit-val", type=int, help="keep only the first N validation examples")
    g.add_argument("--limit-test", type=int, help="keep only the first N test examples")
    g.add_argument("--cifar-train-batches", type=int, help="cifar10: read only the first N "
                   "of the five training batch files (1..5, default 5), for a machine that "
                   "holds only part of the set; each file read is still md5-checked")


def add_backend(p, fused=True, jobs=False):
    g = p.add_argument_group("backend")
    g.add_argument("--backend", choices=backend.BACKENDS,
                   help="array library: numpy (CPU) or cupy (GPU) (default $IMB_BACKEND, "
                   "else numpy)")
    g.add_argument("--dtype", choices=("float32", "float64"),
                   help=f"floating type (default {D.dtype})")
    g.add_argument("--max-memory", type=float, help="GB of working memory per chunk of a "
                   f"batch; batches are split to fit (default {D.max_memory})")
    if fused:
        g.add_argument("--fused", action=argparse.BooleanOptionalAction,
                       help="CuPy: train SFNN/JointIMB/GreedyIMB with the fused kernels, "
                       "leaves drawn in-kernel and never stored, and run every model's "
                       "optimiser update as one kernel per parameter (default: on with "
                       "--backend cupy; the tree needs estimator raiko or st); --no-fused "
                       "runs the reference path")
    if jobs:
        g.add_argument("--jobs", "-j", type=int, help="train this many (model, seed) pairs "
                       "at once, one worker process each (NumPy; default "
                       f"{INFOPLANE_DEFAULT['jobs']}, the cores here up to 3)")


def add_model(p, one_model=True, vib=True):
    g = p.add_argument_group("model")
    if one_model:
        g.add_argument("--model", choices=tuple(KINDS), help=f"(default {D.model})")
    g.add_argument("--hidden", help=f"hidden widths, comma list (default {D.hidden}; "
                   "10,8,6,4 for synthetic12)")
    g.add_argument("--samples", "-M", dest="samples", type=int,
                   help=f"M, samples per particle per layer in training (default "
                   f"{D.samples}; 4 for synthetic12)")
    g.add_argument("--test-samples", type=int, help="M at test time (default: --samples)")
    g.add_argument("--test-runs", type=int, help="stochastic test passes reported "
                   f"(default {D.test_runs})")
    g.add_argument("--gammas", help=f"JointIMB weights of VCR_0..VCR_L: one value or L+1 "
                   f"(default {D.gammas})")
    g.add_argument("--betas", help=f"weights of KL_1..KL_L: one value or L (default "
                   f"{D.betas})")
    g.add_argument("--estimator", choices=estimators(), help="gradient estimator for the "
                   f"binary units (default {D.estimator}; exact for synthetic12); exact: "
                   "train on the exact objective (the limit M -> infinity) with its "
                   "gradient by enumeration, for small networks such as synthetic12's, "
                   "NumPy only")
    if vib:
        g.add_argument("--vib-k", type=int, help=f"VIB bottleneck size (default {D.vib_k})")
        g.add_argument("--vib-beta", type=float, help=f"VIB's beta (default {D.vib_beta})")
        g.add_argument("--vib-samples", type=int, help="VIB bottleneck draws per example "
                       f"in training (default {D.vib_samples}; 32 with --preset paper, as "
                       "Appendix D has M = 32 for every stochastic model)")
        g.add_argument("--vib-test-samples", type=int, help="VIB draws averaged at test "
                       f"time (default {D.vib_test_samples})")
    return g


def add_training(p, presets=True, patience=True):
    g = p.add_argument_group("training")
    g.add_argument("--seed", type=int, help=f"seed of the (first) run (default {D.seed})")
    g.add_argument("--optimizer", choices=OPTIMIZERS, help=f"(default {D.optimizer})")
    g.add_argument("--lr", type=float, help="learning rate (default: the optimiser's usual; "
                   "0.01 for synthetic12)")
    g.add_argument("--momentum", type=float, help=f"SGD momentum (default {D.momentum})")
    g.add_argument("--clip", type=float, help="global gradient-norm clipping, 0 for none "
                   f"(default {D.clip})")
    g.add_argument("--batch-size", type=int, help=f"(default {D.batch_size}; 64 for "
                   "synthetic12)")
    g.add_argument("--shuffle", action=argparse.BooleanOptionalAction,
                   help="reshuffle the training set every epoch (default on; off under "
                   "--preset authors, whose code takes the batches in order)")
    g.add_argument("--epochs", type=int, help=f"(default {D.epochs}; 0 evaluates without "
                   "training)" if patience else "(default "
                   f"{INFOPLANE_DEFAULT['epochs']}; 20000 with --preset paper)")
    g.add_argument("--stage-epochs", type=int, help="GreedyIMB epochs per layer (default: "
                   "epochs split equally over the L layers)")
    if patience:
        g.add_argument("--patience", type=int, help="early stopping on validation error "
                       f"after N epochs without improvement, 0 for none (default "
                       f"{D.patience})")
    if presets:
        g.add_argument("--preset", choices=("paper", "authors"), help="paper: Appendix D's "
                       "settings; authors: the authors' released code (Adamax lr 0.01, "
                       "batch 16, clip 5, patience 20, up to 1000 epochs, no shuffling, "
                       "1/60 of the training set for validation, 100 test passes; see "
                       "README)")
    return g


def add_output(p, what="run folder (default runs/<dataset>-<model>-<time>)"):
    g = p.add_argument_group("output")
    g.add_argument("--output-dir", help=what)
    g.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    return g


def add_attack_options(g):
    g.add_argument("--attack-n", type=int, help="first N test images (default 1000)")
    g.add_argument("--attack-mode", choices=("targeted", "untargeted", "both"),
                   help="(default both)")
    g.add_argument("--attack-iters", type=int, help="Adam iterations per binary-search step "
                   "(default 1000; the reference code used 10000)")
    g.add_argument("--attack-binary-steps", type=int, help="binary-search steps on c "
                   "(default 9)")
    g.add_argument("--attack-lr", type=float, help="Adam's learning rate (default 0.01)")
    g.add_argument("--attack-kappa", type=float, help="confidence margin kappa (default 0)")
    g.add_argument("--attack-initial-const", type=float, help="initial c (default 1e-3)")
    g.add_argument("--eot-samples", type=int, help="fresh draws averaged per attack step "
                   "(expectation over transformation; default 16)")
    g.add_argument("--attack-eval-samples", type=int, help="fresh draws in the decision "
                   "rule that verifies each success (default 100)")
    g.add_argument("--attack-batch", type=int, help="images attacked together (default 100)")


def build_parsers():
    """{command: its parser}. Flags are shared through the add_* groups above."""
    parsers = {}

    p = parsers["train"] = _parser("train")
    add_data(p)
    add_backend(p)
    add_model(p)
    add_training(p)
    g = add_output(p)
    g.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (its "
                   "configuration is reused; --epochs may extend it)")

    p = parsers["infoplane"] = _parser("infoplane")
    g = p.add_argument_group("experiment")
    g.add_argument("--preset", choices=tuple(INFOPLANE_PRESETS), help="paper: Section "
                   "5.3's length, 20,000 epochs, 5 seeds, 30 measurements (hours; default: "
                   f"the demo, {INFOPLANE_DEFAULT['epochs']} epochs, "
                   f"{INFOPLANE_DEFAULT['seeds']} seed)")
    g.add_argument("--models", help=f"comma list of {', '.join(TREE_MODELS)} (default "
                   f"{D.models})")
    g.add_argument("--seeds", type=int, help="initialisations seed, seed+1, ... (default "
                   f"{INFOPLANE_DEFAULT['seeds']}; 5 with --preset paper)")
    g.add_argument("--points", type=int, help="log-spaced epochs at which I(Z_l;X) and "
                   f"I(Z_l;Y) are computed (default {INFOPLANE_DEFAULT['points']}; 30 with "
                   "--preset paper)")
    g.add_argument("--data-file", help="the original var_u.mat (arrays F and y) instead of "
                   "our icosahedral task")
    add_backend(p, fused=False, jobs=True)
    add_model(p, one_model=False, vib=False)
    add_training(p, presets=False, patience=False)
    add_output(p, "experiment folder (default runs/infoplane-<time>); rerun with the same "
               "folder to continue an interrupted experiment")

    p = parsers["table1"] = _parser("table1")
    add_data(p, table1=True)
    add_backend(p)
    add_model(p, one_model=False)
    add_training(p)
    g = p.add_argument_group("Table 1")
    g.add_argument("--seeds", type=int, help="retraining seeds seed, seed+1, ... (default 5, "
                   "as the paper)")
    g.add_argument("--beta-grid", help="betas tried on the validation split (default "
                   "1e-1,...,1e-10 as the paper)")
    g.add_argument("--plan", action="store_true", help="with --output-dir: print the runs "
                   "that can start now, one self-contained command per line (the "
                   "selection runs, then each model's retraining once its selection is "
                   "finished), for xargs -P, GNU parallel or a SLURM array; plan again "
                   "after they finish, then run without --plan to gather the table (and "
                   "make the attacks)")
    g.add_argument("--attack", choices=("cw-l2",), help="also the robustness columns: "
                   "attack the seed---seed model of each row (options as for `attack`)")
    add_attack_options(g)
    add_output(p, "table folder (default runs/table1-<dataset>-<time>); rerun with the "
               "same folder to reuse finished runs and resume interrupted ones")

    p = parsers["attack"] = _parser("attack")
    p.add_argument("checkpoint", metavar="RUN", help="a run's output folder or its "
                   "checkpoint.npz")
    g = p.add_argument_group("attack")
    add_attack_options(g)
    g = p.add_argument_group("backend")
    g.add_argument("--backend", choices=backend.BACKENDS, help="(default $IMB_BACKEND, "
                   "else numpy)")
    g.add_argument("--dtype", choices=("float32", "float64"), help="(default float64)")
    g.add_argument("--data-dir", help="dataset cache folder (default: the run's)")
    add_output(p, "where attack.json and attack.png go (default: the run's folder)")

    p = parsers["golden"] = _parser("golden")
    p.add_argument("export_golden", metavar="FILE.npz", nargs="?", help="the case to write")
    p.add_argument("--check", metavar="CASE.npz", help="instead of writing a case, check "
                   "one written by any framework: every tensor recomputed in float64 and "
                   "compared in the order of the computation; exit 0 if all agree, 1 if "
                   "one does not, 2 if the case is malformed")
    add_data(p)
    g = add_model(p, one_model=False, vib=False)
    g.add_argument("--batch-size", type=int, help="examples in the case (default "
                   f"{D.batch_size}; 64 for synthetic12)")
    g.add_argument("--seed", type=int, help=f"(default {D.seed})")
    g.add_argument("--quiet", action="store_true", help="no download progress")
    return parsers


def _foreign_flag(command, extras, parsers):
    """The one-line refusal of arguments that `command` does not take."""
    token = extras[0]
    if not token.startswith("-"):
        return f"`python run.py {command}` takes no argument {token!r}"
    flag = token.split("=", 1)[0]
    if flag in FORMER_MODES:
        return (f"{flag}: that job is now its own command, `python run.py "
                f"{FORMER_MODES[flag]}` (see python run.py {FORMER_MODES[flag]} --help)")
    owners = [c for c, p in parsers.items() if flag in p._option_string_actions]
    if owners:
        return (f"{flag} is not a flag of `python run.py {command}`; it belongs to "
                f"{', '.join('`' + c + '`' for c in owners)} "
                f"(see python run.py {command} --help)")
    return f"unrecognized argument {flag} (see python run.py {command} --help)"


def parse(argv):
    """(command, {flag: value} of the flags given). No arguments: the embedded demo;
    flags without a command: `train`."""
    argv = list(argv)
    if not argv:
        return "infoplane", {}
    if argv[0] in ("-h", "--help"):
        print(__doc__.strip() + "\n\ncommands:\n" + "\n".join(
            f"  {c:10} {text}" for c, text in COMMANDS.items()))
        raise SystemExit(0)
    if argv[0] in COMMANDS:
        command, rest = argv[0], argv[1:]
    elif argv[0].startswith("-"):
        command, rest = "train", argv
    else:
        raise UserError(f"unknown command {argv[0]!r}: choose one of {', '.join(COMMANDS)} "
                        "(see python run.py --help)")
    if command == "bench":
        return command, {"argv": rest}
    parsers = build_parsers()
    namespace, extras = parsers[command].parse_known_args(rest)
    if extras:
        raise UserError(_foreign_flag(command, extras, parsers))
    return command, vars(namespace)

def check_ranges(cfg):
    positive = {"samples": cfg.samples, "test_samples": cfg.test_samples,
                "batch_size": cfg.batch_size, "test_runs": cfg.test_runs,
                "vib_k": cfg.vib_k, "vib_samples": cfg.vib_samples,
                "vib_test_samples": cfg.vib_test_samples}
    for name, value in positive.items():
        if value is None or value < 1:
            raise UserError(f"--{name.replace('_', '-')} {value}: must be at least 1")
    for name, value in (("epochs", cfg.epochs), ("seed", cfg.seed), ("patience", cfg.patience)):
        if value < 0:
            raise UserError(f"--{name} {value}: must be 0 or more")
    # Real-valued flags: finite (a NaN passes every comparison) and in range.
    for name, value, lowest, strict in (("max_memory", cfg.max_memory, 0.0, True),
                                        ("lr", cfg.lr, 0.0, True),
                                        ("clip", cfg.clip, 0.0, False),
                                        ("momentum", cfg.momentum, 0.0, False),
                                        ("vib_beta", cfg.vib_beta, 0.0, False)):
        if value is None:
            continue
        if not math.isfinite(value) or value < lowest or (strict and value == lowest):
            raise UserError(f"--{name.replace('_', '-')} {value}: must be a finite number "
                            f"{'above' if strict else 'of at least'} {lowest:g}")
    L = len(parse_sizes(cfg.hidden))
    per_layer(cfg.gammas, L + 1, "--gammas")
    per_layer(cfg.betas, L, "--betas")
    if cfg.max_memory > MAX_MEMORY_GB:
        raise UserError(f"--max-memory {cfg.max_memory}: at most {MAX_MEMORY_GB:g} GB")
    if cfg.momentum >= 1:
        raise UserError(f"--momentum {cfg.momentum}: must be below 1")
    if cfg.stage_epochs is not None and not 1 <= cfg.stage_epochs <= max(cfg.epochs, 1):
        raise UserError(f"--stage-epochs {cfg.stage_epochs}: must be between 1 and --epochs "
                        f"({cfg.epochs})")
    if not 1 <= cfg.seeds <= MAX_SEEDS:
        raise UserError(f"--seeds {cfg.seeds}: must be between 1 and {MAX_SEEDS}")
    if cfg.jobs < 1:
        raise UserError(f"--jobs {cfg.jobs}: must be at least 1")
    if cfg.jobs > 1 and cfg.backend == "cupy":
        raise UserError("--jobs: the worker processes run NumPy; with --backend cupy use "
                        "--jobs 1 (one process drives the GPU)")
    if cfg.fused and cfg.backend != "cupy":
        raise UserError("--fused: the fused kernels run on CuPy only; add --backend cupy "
                        "or drop --fused")
    if cfg.estimator == "exact" and KINDS[cfg.model].tree:    # the tree's estimator
        hidden = parse_sizes(cfg.hidden)
        entries = max_transition_entries(hidden)
        if entries > MAX_EXACT_ENTRIES:
            # A power of two: written as one where the digits would not fit on a line.
            size = f"{entries:,}" if entries < 10 ** 18 else f"2**{entries.bit_length() - 1}"
            raise UserError(f"--estimator exact enumerates every state of every layer: "
                            f"--hidden {cfg.hidden} needs a {size}-entry matrix (at most "
                            f"{MAX_EXACT_ENTRIES:,}); use widths such as 10,8,6,4 or a "
                            f"sampled estimator")
    if cfg.fused and cfg.estimator not in FUSED_ESTIMATORS:
        raise UserError(f"--fused: there is no fused {cfg.estimator} estimator (it needs "
                        "every leaf stored); use --no-fused")


def check_backend(cfg, xp):
    """Checks that need the resolved backend (so that a missing CuPy is named first)."""
    if cfg.estimator == "exact" and KINDS[cfg.model].tree and xp is not np:
        raise UserError("--estimator exact (synthetic12's default) enumerates on the host: "
                        "use --backend numpy, or --estimator raiko to sample on the GPU")


def print_config(cfg, xp, data, model, out_dir, models=None):
    lines = [
        ("backend", f"{cfg.backend} ({backend.device_name(xp)})"
                    + (", fused kernels" if model.uses_fused(xp) else "")),
        ("dtype", cfg.dtype),
        ("dataset", data.summary()),
        ("models" if models else "model",
         f"{', '.join(models) if models else model.name}, network "
         f"{'-'.join(map(str, model.sizes))}"),
    ]
    if model.exact:
        lines.append(("objective", "exact: every state of every layer enumerated, no "
                      f"sampling in training; M={model.test_samples} at test, "
                      f"{cfg.test_runs} test runs"))
    elif model.stochastic_tree:
        lines.append(("samples", f"M={model.M} in training ({model.M ** model.L} leaves per "
                      f"example), M={model.test_samples} at test, {cfg.test_runs} test runs, "
                      f"estimator {cfg.estimator}"))
        if model.kind.beta:
            lines.append(("weights", f"gammas {model.gammas}, betas {model.betas}"))
    if model.kind.network.bottleneck:
        lines.append(("bottleneck", f"K={cfg.vib_k}, beta {cfg.vib_beta}, "
                      f"{cfg.vib_samples} draws per example in training, "
                      f"{cfg.vib_test_samples} at test"))
    lines += [
        ("training", f"{cfg.epochs} epochs, batch {cfg.batch_size}, {cfg.optimizer}"
         f"{'' if cfg.lr is None else f' lr {cfg.lr}'}, clip {cfg.clip or 'none'}, "
         f"patience {cfg.patience or 'none'}, seed {cfg.seed}"
         f"{f', preset {cfg.preset}' if cfg.preset else ''}"),
        ("output", out_dir),
    ]
    for key, value in lines:
        print(f"{key:>10}: {value}", flush=True)


def export_golden(cfg, data, path):
    """One float64 case of the objective on the first examples of the training split."""
    model = build_model(cfg, data.n_features, data.n_classes)
    B = min(cfg.batch_size, len(data.train))
    # The case is one unchunked batch of the sampled tree (whatever --estimator says):
    # its uniforms and leaves must fit in memory.
    need = B * sbn.bytes_per_example(model.sizes, model.M, 8, True)
    if need > cfg.max_memory * 1024 ** 3:
        raise UserError(f"golden: a case of {B} examples at M={model.M} needs about "
                        f"{need / 1024 ** 3:.3g} GB (at most {cfg.max_memory} GB); lower "
                        f"--batch-size or --samples")
    rng = init_rng(cfg.seed)
    params = sbn.init_params(model.sizes, rng, np.float64)
    # Small random biases and prior logits so that every gradient is exercised.
    for k in params:
        if k.startswith(("b_", "rho_")):
            params[k] = rng.normal(0.0, 0.5, size=params[k].shape)
    x, y = data.train.x[:B].astype(np.float64), data.train.y[:B]
    uniforms = sbn.sample_uniforms(rng, B, model.M, model.sizes[1:-1], np.float64)
    case = golden.make_case(params, x, y, uniforms, model.M, model.gammas, model.betas)
    golden.write_case(path, case)
    print(f"wrote {path}: loss {float(case['loss']):.12g} nats, B={B}, M={model.M}, "
          f"network {'-'.join(map(str, model.sizes))}")


def infoplane_experiment(cfg, xp, data):
    """Section 5.3: SFNN, JointIMB, GreedyIMB on the 12-bit task, exact information plane."""
    from imb_ref.experiments import infoplane

    models = split_list(cfg.models, "--models", "sfnn,jointimb")
    bad = [m for m in models if m not in TREE_MODELS]
    if bad or not models:
        raise UserError(f"--models {cfg.models!r}: choose from {', '.join(TREE_MODELS)}")
    if not 1 <= cfg.points <= MAX_POINTS:
        raise UserError(f"--points {cfg.points}: must be between 1 and {MAX_POINTS:,} "
                        f"(log-spaced epochs; a run has at most --epochs + 1 to measure)")
    seeds = list(range(cfg.seed, cfg.seed + cfg.seeds))
    for name in models:                     # fail before creating anything
        for training in (True, False):
            chunk_size(infoplane.build(name, cfg), np.dtype(cfg.dtype).itemsize,
                       cfg.max_memory, 1, training)
    out_dir = output_folder(cfg.output_dir, "infoplane")
    model = infoplane.build(models[0], cfg)
    print_config(cfg, xp, data, model, out_dir, models)
    print(f"experiment: information plane, models {', '.join(models)}, seeds {seeds}, "
          f"{cfg.epochs} epochs, exact I(Z_l;X) and I(Z_l;Y) at {cfg.points} log-spaced "
          f"epochs", flush=True)
    try:
        with run_folder(out_dir):
            write_json(os.path.join(out_dir, "config.json"), cfg.to_dict())
            infoplane.run_experiment(cfg, models, seeds, data, xp, out_dir, cfg.points,
                                     jobs=cfg.jobs)
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


def prepare_output(cfg, resuming):
    out_dir = output_folder(cfg.output_dir, f"{cfg.dataset}-{cfg.model}")
    if not resuming and os.path.exists(os.path.join(out_dir, checkpoint.FILENAME)):
        raise UserError(f"--output-dir {out_dir} already holds a run; continue it with "
                        f"python run.py train --resume {out_dir} or choose another folder")
    return out_dir


def train_command(explicit):
    resume = None
    if "resume" in explicit:
        resume = checkpoint.load(explicit["resume"])
        saved = resume[3]["config"]
        folder = os.path.dirname(checkpoint.resolve_path(explicit["resume"]))
        # The saved configuration wins; a flag may change only what does not change the
        # run's numbers (or, for --epochs, extends it). Any other flag is refused rather
        # than silently ignored.
        for key, value in explicit.items():
            if key in RESUME_MAY_CHANGE:
                saved[key] = value
            elif key not in ("resume", "output_dir") and saved.get(key) != value:
                raise UserError(f"--{key.replace('_', '-')} {value}: {folder} was made with "
                                f"{key} = {saved.get(key)!r} and a resumed run keeps its "
                                f"settings; drop the flag, or start a new run in another "
                                f"--output-dir")
        saved["output_dir"] = folder
        cfg = Config.from_dict(saved)
    else:
        explicit.setdefault("backend", backend.default_backend())
        cfg = resolve(explicit)
    check_ranges(cfg)
    xp = backend.resolve(cfg.backend)
    check_backend(cfg, xp)
    data = load(cfg)
    model = build_model(cfg, data.n_features, data.n_classes)
    if resume is not None:                  # its arrays must fit the network it names
        checkpoint.check_against(checkpoint.resolve_path(explicit["resume"]), resume, model)
        check_metrics(os.path.join(cfg.output_dir, "metrics.jsonl"))
    for training in (True, False):          # fail before creating anything
        chunk_size(model, np.dtype(cfg.dtype).itemsize, cfg.max_memory, 1, training)
    out_dir = prepare_output(cfg, resume is not None)
    RUN_FOLDER.append(out_dir)
    print_config(cfg, xp, data, model, out_dir)
    with run_folder(out_dir):
        summary = train_run(cfg, model, data, xp, out_dir, resume=resume)
    print(result_line(cfg.dataset, summary) + f"; wrote {out_dir}", flush=True)
    return 0


def result_line(dataset, summary):
    """The test error, or for CIFAR10 the accuracy as the paper reports it (Table 1),
    with the error beside it."""
    err, std = summary["test_error_mean"], summary["test_error_std"]
    mf, runs = summary["meanfield_test_error"], summary["test_runs"]
    if dataset == "cifar10":
        return (f"test accuracy {100 * (1 - err):.2f}% +- {100 * std:.2f} over {runs} runs "
                f"(error {100 * err:.2f}%), mean-field accuracy {100 * (1 - mf):.2f}%")
    return (f"test error {100 * err:.2f}% +- {100 * std:.2f} over {runs} runs, mean-field "
            f"{100 * mf:.2f}%")


def infoplane_command(explicit):
    preset = explicit.pop("preset", None)
    layered = {**INFOPLANE_DEFAULT, **INFOPLANE_PRESETS.get(preset, {}), **explicit,
               "dataset": "synthetic12"}
    layered.setdefault("backend", backend.default_backend())
    if layered["backend"] == "cupy" and "jobs" not in explicit:
        layered["jobs"] = 1                 # one process drives the GPU
    cfg = resolve(layered)
    cfg.preset = preset
    check_ranges(cfg)
    xp = backend.resolve(cfg.backend)
    check_backend(cfg, xp)
    return infoplane_experiment(cfg, xp, load(cfg))


def table1_command(explicit):
    from imb_ref.experiments.table1 import MODELS as TABLE1_MODELS, model_config, run_table1
    name = explicit.get("backend", backend.default_backend())
    explicit.setdefault("dataset", "mnist")
    for model in TABLE1_MODELS:             # every run's settings, before any folder
        check_ranges(model_config(explicit, model))
    # Planning trains nothing: the backend is resolved where the commands run.
    run_table1(explicit, None if explicit.get("plan") else backend.resolve(name), name)
    return 0


def attack_command(explicit):
    from imb_ref.experiments.attack.command import run_attack
    name = explicit.get("backend", backend.default_backend())
    return run_attack(explicit, backend.resolve(name), build_model, name)


def golden_command(explicit):
    if "check" in explicit:
        others = sorted(k for k in explicit if k not in ("check", "export_golden"))
        if others or "export_golden" in explicit:
            raise UserError("golden --check CASE.npz takes no other argument (got "
                            + (f"--{others[0].replace('_', '-')})" if others
                               else f"{explicit['export_golden']})"))
        return golden.check_file(explicit["check"])
    path = explicit.pop("export_golden", None)
    if path is None:
        raise UserError("golden: give the FILE.npz to write, or --check CASE.npz")
    cfg = resolve({**explicit, "backend": "numpy"})
    check_ranges(cfg)
    check_writable_file(path, "golden FILE.npz")
    export_golden(cfg, load(cfg), path)
    return 0


def bench_command(explicit):
    from imb_ref.experiments import bench
    return bench.main(explicit["argv"], prog="python run.py bench")


def load(cfg):
    return load_dataset(cfg.dataset, cfg.data_dir, cfg.val_size, cfg.limit_train,
                        cfg.limit_val, cfg.limit_test, cfg.data_file, cfg.quiet,
                        dtype=np.dtype(cfg.dtype),
                        cifar_train_batches=cfg.cifar_train_batches)


RUN = {"train": train_command, "infoplane": infoplane_command, "table1": table1_command,
       "attack": attack_command, "golden": golden_command, "bench": bench_command}


def why(argv, command):
    """The first line of output: the command that runs, and why it is that one."""
    if not argv:
        reason = ("no command given: the embedded demo, a short information-plane run; "
                  "python run.py --help lists the commands")
    elif argv[0] != command:
        reason = ("flags without a command run `train`, the default; python run.py alone "
                  "runs the information-plane demo")
    else:
        reason = "named on the command line"
    return f"command: {command} ({reason})"


def run(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    command, explicit = parse(argv)
    if command != "bench" and not explicit.get("plan"):   # --plan's output is commands
        print(why(argv, command), flush=True)
    return RUN[command](explicit)


MAX_POINTS = 10000          # information-plane measurements per pair
MAX_MEMORY_GB = 1e6         # a petabyte: more than any machine, so a typo is caught
RESUME_MAY_CHANGE = ("epochs", "quiet", "backend", "max_memory", "data_dir", "fused")
RUN_FOLDER = []             # the run folder once it exists, for the Ctrl-C message


def main(argv=None):
    try:
        return run(argv)
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`python run.py | head`): no traceback, and nothing more
        # written to the closed pipe (Python would complain once more at exit).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141                             # 128 + SIGPIPE, as a shell reports it
    except KeyboardInterrupt:
        folder = RUN_FOLDER[-1] if RUN_FOLDER else None
        if folder and os.path.exists(os.path.join(folder, checkpoint.FILENAME)):
            print("interrupted: the last completed epoch's checkpoint is kept; continue "
                  f"with python run.py train --resume {folder}", file=sys.stderr)
        elif folder:
            print("interrupted before the first epoch finished: no checkpoint was written "
                  f"and {folder} was not kept; run the same command to start again",
                  file=sys.stderr)
        else:
            print("interrupted before any run folder was made: nothing to resume",
                  file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
