"""imb_ref's flags: one parser per command. A run setting's flag is generated from its
declaration in RunSettings (training/settings.py: help, group, the commands that offer it,
choices; the default and what the datasets and presets set it to are read from there), so
a flag and its default are written once; each command adds its own flags beside them.
`unparse` is the train parser's inverse (table1 --plan's lines)."""

import argparse
from dataclasses import fields

from . import backend
from .errors import ArgumentParser
from .experiments.infoplane import InfoplaneSettings
from .models import tree_models
from .nn.bernoulli import SURROGATES
from .training.settings import DATASET_DEFAULTS, PRESETS, RunSettings

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


# The commands whose --preset is the run presets (training/settings.py's PRESETS); the
# information plane's --preset is its own (the paper's length).
RUN_PRESET_COMMANDS = tuple(c for c in ("train", "infoplane", "table1", "golden")
                            if c in RunSettings.__dataclass_fields__["preset"].metadata[
                                "commands"])


def default_text(f, command, command_defaults=None):
    """The "(default ...)" of a run setting's help, from its declaration: the command's
    own default where it has one (the information plane's length, Table 1's dataset),
    else the field's, then what the datasets set it to and, where `command` offers the
    run presets, what they set it to."""
    if command_defaults and f.name in command_defaults:
        return command_defaults[f.name]
    md = f.metadata
    if md["default_text"]:
        text = md["default_text"]
    elif isinstance(f.default, bool):
        text = "on" if f.default else "off"
    else:
        text = f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
    for dataset, values in DATASET_DEFAULTS.items():
        if f.name in values:
            text += f"; {values[f.name]} for {dataset}"
    offers_presets = command in RUN_PRESET_COMMANDS
    for preset, table in PRESETS.items():
        if offers_presets and f.name in table.get("*", {}):
            value = table["*"][f.name]
            shown = ("off" if value is False else "on") if isinstance(value, bool) else value
            text += f"; {shown} with --preset {preset}"
    return text


def add_run_settings(p, command, defaults=None, helps=None):
    """The flags of the run settings `command` offers, generated from RunSettings'
    declarations (training/settings.py: `setting`), in their groups; returns {group name:
    argparse group} so the command can add its own flags beside them. `helps` and
    `defaults` ({field: text}) are the command's own wording of a setting and of its
    default, where they differ from the declaration's."""
    groups = {}
    for f in fields(RunSettings):
        md = f.metadata
        if command not in md.get("commands", ()):
            continue
        if md["group"] not in groups:
            groups[md["group"]] = p.add_argument_group(md["group"])
        flags = ["--" + f.name.replace("_", "-")] + ([md["short"]] if md["short"] else [])
        kwargs = {"help": f"{(helps or {}).get(f.name, md['help'])} "
                          f"(default {default_text(f, command, defaults)})"}
        if md["action"] == "store_true":
            kwargs["action"] = "store_true"
        elif md["action"] == "boolean":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kind = {int: int, float: float}.get(f.type)
            if kind is not None:
                kwargs["type"] = kind
            if md["choices"] is not None:
                kwargs["choices"] = md["choices"]()
        groups[md["group"]].add_argument(*flags, dest=f.name, **kwargs)
    return groups


def add_output(groups, p, what="run folder (default runs/<dataset>-<model>-<time>)"):
    """--output-dir, in the output group (beside --quiet, a run setting)."""
    g = groups.get("output") or groups.setdefault("output", p.add_argument_group("output"))
    g.add_argument("--output-dir", help=what)
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
    groups = add_run_settings(p, "train")
    g = add_output(groups, p)
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
                   f"{I.seeds}; {I.PRESETS['paper']['seeds']} with --preset paper)")
    g.add_argument("--points", type=int, help="log-spaced epochs at which I(Z_l;X) and "
                   f"I(Z_l;Y) are computed (default {I.points}; "
                   f"{I.PRESETS['paper']['points']} with --preset paper)")
    groups = add_run_settings(p, "infoplane", defaults={
        "epochs": f"{I.EPOCHS}; {I.PRESETS['paper']['epochs']} with --preset paper"})
    groups["backend"].add_argument("--jobs", "-j", type=int, help="train this many (model, "
                                   "seed) pairs at once, one worker process each (NumPy; "
                                   f"default {I.jobs}, the cores here up to 3)")
    add_output(groups, p, "experiment folder (default runs/infoplane-<time>); rerun with "
               "the same folder to continue an interrupted experiment")
    return p


def table1_parser():
    from imb_ref.experiments.table1 import Table1Settings as T
    p = _parser("table1")
    groups = add_run_settings(p, "table1", defaults={
        k: str(v) for k, v in T.RUN_DEFAULTS.items()})
    g = p.add_argument_group("Table 1")
    g.add_argument("--seeds", type=int, help=f"retraining seeds seed, seed+1, ... (default "
                   f"{T.seeds}, as the paper)")
    g.add_argument("--beta-grid", help="betas tried on the validation split (default "
                   f"{T.beta_grid} as the paper)")
    g.add_argument("--plan", action="store_true", help="with --output-dir: print the runs "
                   "that can start now, one self-contained command per line (the "
                   "selection runs, then each model's retraining once its selection is "
                   "finished), for xargs -P, GNU parallel or a SLURM array; plan again "
                   "after they finish, then run without --plan to gather the table (and "
                   "make the attacks)")
    g.add_argument("--attack", choices=("cw-l2",), help="also the robustness columns: "
                   "attack the seed---seed model of each row (options as for `attack`)")
    add_attack_options(g)
    add_output(groups, p, "table folder (default runs/table1-<dataset>-<time>); rerun with "
               "the same folder to reuse finished runs and resume interrupted ones")
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
    g = add_output({}, p, "where attack.json and attack.png go (default: the run's folder)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def golden_parser():
    p = _parser("golden")
    p.add_argument("export_golden", metavar="FILE.npz", nargs="?", help="the case to write")
    p.add_argument("--check", metavar="CASE.npz", help="instead of writing a case, check "
                   "one written by any framework: every tensor recomputed in float64 and "
                   "compared in the order of the computation; exit 0 if all agree, 1 if "
                   "one does not, 2 if the case is malformed")
    add_run_settings(p, "golden", helps={
        "estimator": f"the samples' surrogate, recorded in the case: {', '.join(SURROGATES)}",
        "batch_size": "examples in the case", "quiet": "no download progress"}, defaults={
        "estimator": "raiko, on every dataset",
        "gammas": "gamma_l = 2^-l, a weight per layer",
        "betas": "beta_l = l/10, a weight per layer"})
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
