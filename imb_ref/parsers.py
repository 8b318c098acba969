"""imb_ref's flags: one parser per command from shared groups (add_data, add_model, ...),
whose help reads each default from its settings class, and their inverse (unparse), which
writes settings back as a command line (table1 --plan's lines)."""

import argparse

from . import backend
from .data import SOURCES
from .errors import ArgumentParser
from .experiments.infoplane import InfoplaneSettings
from .models import KINDS, estimators, tree_models
from .nn.bernoulli import SURROGATES
from .optim import OPTIMIZERS
from .training.settings import RunSettings

D = RunSettings()             # the defaults the help texts name
I = InfoplaneSettings

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
    "report": "the reports of results/ and the claims ledger, judged, from the committed "
              "run summaries (results/runs/); --add gathers finished run folders into one",
}

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
                       f"{I.jobs}, the cores here up to 3)")


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
                   f"{I.EPOCHS}; 20000 with --preset paper)")
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
    from imb_ref.experiments.attack.command import AttackSettings as A
    g.add_argument("--attack-n", type=int, help=f"first N test images (default {A.n})")
    g.add_argument("--attack-mode", choices=("targeted", "untargeted", "both"),
                   help=f"(default {A.mode})")
    g.add_argument("--attack-iters", type=int, help="Adam iterations per binary-search step "
                   f"(default {A.iters}; the reference code used 10000)")
    g.add_argument("--attack-binary-steps", type=int, help="binary-search steps on c "
                   f"(default {A.binary_steps})")
    g.add_argument("--attack-lr", type=float, help=f"Adam's learning rate (default {A.lr})")
    g.add_argument("--attack-kappa", type=float, help="confidence margin kappa (default "
                   f"{A.kappa:g})")
    g.add_argument("--attack-initial-const", type=float, help="initial c (default "
                   f"{A.initial_const:g})")
    g.add_argument("--eot-samples", type=int, help="fresh draws averaged per attack step "
                   f"(expectation over transformation; default {A.eot})")
    g.add_argument("--attack-eval-samples", type=int, help="fresh draws in the decision "
                   f"rule that verifies each success (default {A.eval_samples})")
    g.add_argument("--attack-batch", type=int, help="images attacked together (default "
                   f"{A.batch})")


def train_parser():
    p = _parser("train")
    add_data(p)
    add_backend(p)
    add_model(p)
    add_training(p)
    g = add_output(p)
    g.add_argument("--resume", metavar="DIR", help="continue the run saved in DIR (its "
                   "configuration is reused; --epochs may extend it)")
    return p


def infoplane_parser():
    p = _parser("infoplane")
    g = p.add_argument_group("experiment")
    g.add_argument("--preset", choices=tuple(I.PRESETS), help="paper: Section "
                   "5.3's length, 20,000 epochs, 5 seeds, 30 measurements (hours; default: "
                   f"the demo, {I.EPOCHS} epochs, {I.seeds} seed)")
    g.add_argument("--models", help=f"comma list of {', '.join(tree_models())} (default "
                   f"{','.join(I.default_models())}: the models of Section 5.3)")
    g.add_argument("--seeds", type=int, help="initialisations seed, seed+1, ... (default "
                   f"{I.seeds}; 5 with --preset paper)")
    g.add_argument("--points", type=int, help="log-spaced epochs at which I(Z_l;X) and "
                   f"I(Z_l;Y) are computed (default {I.points}; 30 with --preset paper)")
    g.add_argument("--data-file", help="the original var_u.mat (arrays F and y) instead of "
                   "our icosahedral task")
    add_backend(p, fused=False, jobs=True)
    add_model(p, one_model=False, vib=False)
    add_training(p, presets=False, patience=False)
    add_output(p, "experiment folder (default runs/infoplane-<time>); rerun with the same "
               "folder to continue an interrupted experiment")
    return p


def table1_parser():
    p = _parser("table1")
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
    return p


def attack_parser():
    p = _parser("attack")
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
    return p


def golden_parser():
    p = _parser("golden")
    p.add_argument("export_golden", metavar="FILE.npz", nargs="?", help="the case to write")
    p.add_argument("--check", metavar="CASE.npz", help="instead of writing a case, check "
                   "one written by any framework: every tensor recomputed in float64 and "
                   "compared in the order of the computation; exit 0 if all agree, 1 if "
                   "one does not, 2 if the case is malformed")
    add_data(p)
    g = add_model(p, one_model=False, vib=False)
    for action in g._group_actions:          # the case's own defaults
        if action.dest == "estimator":
            action.help = (f"the samples' surrogate, recorded in the case: "
                           f"{', '.join(SURROGATES)} (default raiko, on every dataset)")
        elif action.dest in ("gammas", "betas"):
            action.help = action.help.split(" (default")[0] + (
                " (default: gamma_l = 2^-l" if action.dest == "gammas" else
                " (default: beta_l = l/10") + ", a weight per layer)"
    g.add_argument("--batch-size", type=int, help="examples in the case (default "
                   f"{D.batch_size}; 64 for synthetic12)")
    g.add_argument("--seed", type=int, help=f"(default {D.seed})")
    g.add_argument("--quiet", action="store_true", help="no download progress")
    return p


def report_parser():
    p = _parser("report")
    p.add_argument("folders", metavar="RUN", nargs="*", help="with --add: finished train "
                   "run folders, one per (model, seed)")
    p.add_argument("--add", metavar="NAME", help="write results/runs/NAME.json from the "
                   "run folders named (numbers from the folders; a title, notes and "
                   "differences already in NAME.json are kept), then regenerate")
    p.add_argument("--title", help="with --add: the summary's title")
    p.add_argument("--check", action="store_true", help="write nothing: exit 1 naming each "
                   "report that differs from what the summaries give, 0 if none does")
    p.add_argument("--results", help="the reports' folder, whose runs/ holds the "
                   "summaries (default results)")
    p.add_argument("--readme", help="the README whose claims block is rewritten (default "
                   "README.md; none to leave it)")
    return p


def build_parsers():
    """{command: its parser}. Flags are shared through the add_* groups above."""
    return {"train": train_parser(), "infoplane": infoplane_parser(),
            "table1": table1_parser(), "attack": attack_parser(), "golden": golden_parser(),
            "report": report_parser()}


def unparse(parser, values):
    """The inverse of `parser`: the arguments that parse back to `values` ({dest: value}).
    A None is left out (the parser's default is None); a boolean is its flag, or
    --no-flag where the flag has one. A value no flag of the parser sets is refused, so
    a setting added without its flag cannot be dropped from a planned line unseen."""
    actions = {a.dest: a for a in parser._actions if a.option_strings}
    missing = sorted(set(values) - set(actions))
    if missing:
        raise ValueError(f"{parser.prog} has no flag for {missing}")
    args = []
    for dest, value in values.items():
        action = actions[dest]
        flag = next(o for o in action.option_strings if o.startswith("--"))
        if value is None or (value is False and action.nargs == 0
                             and not isinstance(action, argparse.BooleanOptionalAction)):
            continue
        if isinstance(action, argparse.BooleanOptionalAction):
            args.append(flag if value else "--no-" + flag[2:])
        elif action.nargs == 0:                  # store_true
            args.append(flag)
        else:
            args += [flag, str(value)]
    return args


RUN_PY = ("python", "run.py")


def train_line(cfg, folder, program=RUN_PY):
    """The `<program> train` command line that trains RunSettings `cfg` into `folder`
    (table1 --plan's lines): every setting spelled out, by the parser's inverse.
    `program` is how the user ran the command line (cli.program())."""
    import shlex
    args = list(program) + ["train"] + unparse(train_parser(), cfg.to_dict()) + \
        ["--output-dir", folder]
    return " ".join(shlex.quote(a) for a in args)


def resume_line(folder, program=RUN_PY):
    """The `<program> train --resume` line that continues the run in `folder`."""
    import shlex
    return " ".join(shlex.quote(a) for a in
                    list(program) + ["train", "--resume", folder, "--quiet"])
