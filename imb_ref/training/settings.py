"""A run's settings (RunSettings: what its config.json holds), the defaults per dataset,
the paper's presets, the lists flags take, and the checks.

Precedence: a flag given, then the preset (`--preset paper|authors`), then the dataset's
default, then RunSettings' default. The commands that train several runs hold
RunSettings: InfoplaneSettings (experiments/infoplane/settings.py), Table1Settings
(experiments/table1.py); the attack's are AttackSettings (experiments/attack/command.py).
"""

import math
from dataclasses import asdict, dataclass, field, fields, replace

import numpy as np

from ..errors import UserError
from ..flags import check_ranges, flag, plain_default, show, typed
from ..exact import max_transition_entries
from ..gpu.fused import ESTIMATORS as FUSED_ESTIMATORS
from ..data.cifar10 import TRAIN_FILES
from ..models import KINDS, MAX_EXACT_ENTRIES
from ..models.registry import Model

# The model's own defaults (M, the estimator, VIB's K, beta and draws), stated once on
# Model, are the run settings' defaults.
MODEL = {name: f.default for name, f in Model.__dataclass_fields__.items()}

MAX_SEEDS = 1000            # more than any table needs; a typo of 10**11 is refused
MAX_POINTS = 10000          # information-plane measurements per pair
MAX_MEMORY_GB = 1e6         # a petabyte: more than any machine, so a typo is caught

# `--preset paper`: Appendix D. Adadelta on MNIST, Adagrad on CIFAR10, Adam for VIB;
# beta_l = 1e-4 for the IMB models; VIB's beta 1e-3 (MNIST) / 1e-4 (CIFAR10); M = 32 at
# training and test time, for VIB too (32 bottleneck draws per training example); 10
# stochastic test passes. The paper gives neither batch size
# nor epochs: we use batch 100 and early stopping on the validation error with the
# authors' patience of 20 epochs, up to 200 epochs.
# `--preset authors`: the authors' released code: Adamax lr 0.01, batch 16, clip 5,
# patience 20, up to 1000 epochs, no shuffling, the last 1/60 of the training set held
# out for validation, 100 stochastic test passes; a single run tests its best-validation
# parameters without retraining, as that code does. (`run.py table1` keeps the paper's protocol,
# which retrains the chosen setting on the whole training set.)
PRESETS = {
    "paper": {
        "*": dict(samples=32, test_samples=32, vib_samples=32, test_runs=10, betas=(1e-4,),
                  gammas=(1.0,), batch_size=100, epochs=200, patience=20),
        ("mnist", "binary"): dict(optimizer="adadelta", lr=1.0),
        ("fashion-mnist", "binary"): dict(optimizer="adadelta", lr=1.0),
        ("cifar10", "binary"): dict(optimizer="adagrad", lr=0.01),
        ("mnist", "gaussian"): dict(optimizer="adam", lr=1e-3, vib_beta=1e-3),
        ("fashion-mnist", "gaussian"): dict(optimizer="adam", lr=1e-3, vib_beta=1e-3),
        ("cifar10", "gaussian"): dict(optimizer="adam", lr=1e-3, vib_beta=1e-4),
    },
    "authors": {
        "*": dict(optimizer="adamax", lr=0.01, batch_size=16, clip=5.0, patience=20,
                  epochs=1000, samples=32, test_samples=32, test_runs=100, betas=(1e-4,),
                  shuffle=False),
        # 1/60 of the training set: 60,000 / 60 and 50,000 / 60 (rounded down).
        **{(d, f): dict(val_size=n) for d, n in (("mnist", 1000), ("fashion-mnist", 1000),
                                                 ("cifar10", 833))
           for f in ("binary", "gaussian")},
    },
}

DATASET_DEFAULTS = {
    # The 12-bit task (Section 5.3): network 12-10-8-6-4 as in the paper, trained on the
    # exact objective (the limit M -> infinity of the sampled one, gradient by
    # enumeration) with Adam lr 0.01: on this task M = 2 ends at the linear rule's error
    # and M = 4 learns slowly, and SGD with one learning rate for all models either
    # leaves SFNN slow or saturates JointIMB's first layer (its objective sums L + 1 VCR
    # terms). Measurements in theory/infoplane.md. M = 4 is used where the tree is
    # sampled (test predictions, --estimator raiko). `--optimizer sgd --lr 1.0` gives the
    # paper's optimiser. The paper's length (20,000 epochs, 5 seeds) is
    # `python run.py infoplane --preset paper`.
    "synthetic12": dict(hidden=(10, 8, 6, 4), samples=4, estimator="exact",
                        optimizer="adam", lr=0.01, batch_size=64),
}


# Which commands offer a run setting as a flag (the field's `commands`).
ALL_RUNS = ("train", "infoplane", "table1", "golden")     # every command that builds a run
TRAINING = ("train", "infoplane", "table1")               # the commands that train
ONE_DATASET = ("train", "table1", "golden")               # the image sets' flags


def setting(default, help, group, commands, *, short=None, choices=None,
            default_text=None, action=None, parse=None, **bounds):
    """A run setting and its flag, declared once (flags.flag): the default, the help, its
    group in `--help`, the commands that offer it, its choices (a function, read when the
    parser is built: a row added later is offered), and `default_text` where the default
    is not a plain value. bounds: the range of a number (flags.flag's minimum, above,
    below, maximum). Where a field says where or how a run is computed, never what it
    computes, it belongs to the Where group, which a run's identity leaves out."""
    return flag(default, help, group, commands=commands, short=short,
                choices=choices, default_text=default_text, action=action, parse=parse,
                **bounds)


# Where and how a computation runs: the flags the run settings share with the attack
# (experiments/attack/command.py), each declared here once; a command gives its default.
SHARED = {
    "dtype": dict(help="floating type", group="backend",
                  choices=lambda: ("float32", "float64")),
    "backend": dict(help="array library: numpy (CPU) or cupy (GPU)", group="backend",
                    choices=lambda: _backends(), default_text="$IMB_BACKEND, else numpy"),
    "data_dir": dict(help="dataset cache folder", group="data"),
    "quiet": dict(help="no progress bar or per-epoch lines", group="output",
                  action="store_true"),
}


def shared(name, default, **changes):
    """The declaration SHARED[name] with this command's default (and changes)."""
    declaration = {**SHARED[name], **changes}
    return flag(default, declaration.pop("help"), declaration.pop("group"), **declaration)


def _sources():
    from ..data import SOURCES
    return tuple(SOURCES)


def _estimators():
    from ..models import estimators
    return estimators()


def _optimizers():
    from ..optim import OPTIMIZERS
    return tuple(OPTIMIZERS)


def _backends():
    from ..backend import BACKENDS
    return tuple(BACKENDS)


class Group:
    """A group of run settings: its fields declare their flags (`setting`)."""

    @classmethod
    def default_note(cls, f, command):
        """The "(default ...)" of a run setting's help: the declaration's, then what the
        datasets set it to and, where `command` offers the run presets, what they set
        it to."""
        text = plain_default(f)
        for dataset, values in DATASET_DEFAULTS.items():
            if f.name in values:
                text += f"; {show(values[f.name])} for {dataset}"
        if command in Training.__dataclass_fields__["preset"].metadata["commands"]:
            for preset, table in PRESETS.items():
                if f.name in table.get("*", {}):
                    value = table["*"][f.name]
                    shown = (("on" if value else "off") if isinstance(value, bool)
                             else show(value))
                    text += f"; {shown} with --preset {preset}"
        return text


@dataclass(frozen=True)
class Data(Group):
    """What the run learns from: the dataset, its split and its limits."""
    dataset: str = setting("synthetic12", "dataset", "data", ONE_DATASET, choices=_sources,
                           default_text="synthetic12: the 12-bit task, generated in code")
    data_file: str = setting(None, "synthetic12 only: the original var_u.mat (arrays F and "
                             "y) instead of our icosahedral task", "data", ALL_RUNS,
                             default_text="the icosahedral task")
    val_size: int = setting(None, "last N training examples held out for validation", "data",
                            ONE_DATASET, default_text="10000 for image sets as in the paper, 0 "
                            "for synthetic12; 0 trains on everything")
    limit_train: int = setting(None, "keep only the first N training examples", "data",
                               ONE_DATASET, default_text="all")
    limit_val: int = setting(None, "keep only the first N validation examples", "data",
                             ONE_DATASET, default_text="all")
    limit_test: int = setting(None, "keep only the first N test examples", "data",
                              ONE_DATASET, default_text="all")
    cifar_train_batches: int = setting(TRAIN_FILES, "cifar10: read only the first N of the five "
                                       "training batch files (1..5), for a machine that "
                                       "holds only part of the set; each file read is "
                                       "still md5-checked", "data", ONE_DATASET)


@dataclass(frozen=True)
class Network(Group):
    """The model, its network and its objective: widths, M, the layers' weights, the
    estimator; VIB's bottleneck."""
    model: str = setting("jointimb", "the model", "model", ("train",),
                         choices=lambda: tuple(KINDS))
    hidden: tuple = setting((512, 512), "hidden widths, comma list", "model", ALL_RUNS,
                            parse=lambda text, name: parse_sizes(text, name))
    samples: int = setting(MODEL["M"], "M, samples per particle per layer in training",
                           "model", ALL_RUNS, short="-M", minimum=1)
    test_samples: int = setting(None, "M at test time", "model", ALL_RUNS, minimum=1,
                                default_text="--samples")   # from_flags fills it in
    test_runs: int = setting(10, "stochastic test passes reported", "model", ALL_RUNS,
                             minimum=1)
    gammas: tuple = setting((1.0,), "JointIMB weights of VCR_0..VCR_L: one value or L+1",
                            "model", ALL_RUNS, parse=lambda text, name: weights(text, name))
    betas: tuple = setting((1e-4,), "weights of KL_1..KL_L: one value or L", "model",
                           ALL_RUNS, parse=lambda text, name: weights(text, name))
    estimator: str = setting(MODEL["estimator"], "gradient estimator for the binary units; "
                             "exact: train on the exact objective (the limit M -> infinity) "
                             "with its gradient by enumeration, for small networks such as "
                             "synthetic12's, NumPy only", "model", ALL_RUNS,
                             choices=_estimators)
    vib_k: int = setting(MODEL["vib_k"], "VIB bottleneck size", "model", ("train", "table1"),
                         minimum=1)
    vib_beta: float = setting(MODEL["vib_beta"], "VIB's beta", "model", ("train", "table1"),
                              minimum=0.0)
    vib_samples: int = setting(MODEL["vib_samples"], "VIB bottleneck draws per example in "
                               "training (Appendix D has M = 32 for every stochastic model)",
                               "model", ("train", "table1"), minimum=1)
    vib_test_samples: int = setting(MODEL["vib_test_samples"], "VIB draws averaged at test "
                                    "time", "model", ("train", "table1"), minimum=1)

    def __post_init__(self):
        typed(self)     # hidden, gammas, betas: tuples, however they were given

    def layer_gammas(self):
        """gamma_0..gamma_L: one per VCR term (a single value weighs every layer)."""
        return per_layer(self.gammas, len(self.hidden) + 1, "--gammas")

    def layer_betas(self):
        """beta_1..beta_L: one per KL term (a single value weighs every layer)."""
        return per_layer(self.betas, len(self.hidden), "--betas")


@dataclass(frozen=True)
class Training(Group):
    """The optimisation: seed, precision, optimiser, batches, length, early stopping,
    the preset that chose them."""
    seed: int = setting(0, "seed of the (first) run", "training", ALL_RUNS, minimum=0)
    dtype: str = shared("dtype", "float32", commands=TRAINING)
    optimizer: str = setting("adam", "the optimiser", "training", TRAINING,
                             choices=_optimizers)
    lr: float = setting(None, "learning rate", "training", TRAINING, above=0.0,
                        default_text="the optimiser's usual")
    momentum: float = setting(0.9, "SGD momentum", "training", TRAINING, minimum=0.0,
                              below=1.0)
    clip: float = setting(0.0, "global gradient-norm clipping, 0 for none", "training",
                          TRAINING, minimum=0.0)
    batch_size: int = setting(100, "examples per step", "training", ALL_RUNS, minimum=1)
    shuffle: bool = setting(True, "reshuffle the training set every epoch", "training",
                            TRAINING, action="boolean")
    epochs: int = setting(10, "epochs to train; 0 evaluates without training", "training",
                          TRAINING, minimum=0)
    stage_epochs: int = setting(None, "GreedyIMB epochs per layer", "training", TRAINING,
                                default_text="epochs split equally over the L layers")
    patience: int = setting(0, "early stopping on validation error after N epochs without "
                            "improvement, 0 for none", "training", ("train", "table1"),
                            minimum=0)
    preset: str = setting(None, "paper: Appendix D's settings; authors: the authors' "
                          "released code (see README's presets)", "training",
                          ("train", "table1"), choices=lambda: tuple(PRESETS),
                          default_text="none")


@dataclass(frozen=True)
class Where(Group):
    """Where and how the run is computed, never what it computes: two runs that differ
    only here are the same run."""
    data_dir: str = shared("data_dir", None, commands=ONE_DATASET,
                           default_text="$IMB_DATA, else ~/.cache/imb_ref")
    backend: str = shared("backend", "numpy", commands=TRAINING)
    max_memory: float = setting(2.0, "GB of working memory per chunk of a batch; batches "
                                "are split to fit", "backend", TRAINING, above=0.0)
    fused: bool = setting(None, "CuPy: train SFNN/JointIMB/GreedyIMB with the fused kernels, "
                          "leaves drawn in-kernel and never stored, and run every model's "
                          "optimiser update as one kernel per parameter (the tree needs "
                          "estimator raiko or st); --no-fused runs the reference path",
                          "backend", ("train", "table1"), action="boolean",
                          default_text="on with --backend cupy")
    quiet: bool = shared("quiet", False, commands=ALL_RUNS)


GROUPS = {"data": Data, "network": Network, "training": Training, "where": Where}
GROUP = {f.name: name for name, cls in GROUPS.items() for f in fields(cls)}
IDENTITY = [k for k, g in GROUP.items() if g != "where"]     # what makes a run the run


@dataclass(frozen=True)
class RunSettings:
    """One run, in four groups: its data, its network, its training and where it runs;
    exactly what its folder's config.json holds (flat: one key per setting, as the
    flags name them). A run's identity is equality (==): resume, table1's reuse of a
    folder and the information plane's pairs compare settings, so every group counts
    but `where` (the data's folder, the array library, memory per chunk, the fused
    kernels, the progress bar). Each field declares its flag once (`setting`): the
    parsers are built from these declarations (flags.py). `from_flags` layers, lowest
    first: these defaults, the dataset's (DATASET_DEFAULTS), the preset's (PRESETS),
    the flags given."""
    data: Data = Data()
    network: Network = Network()
    training: Training = Training()
    where: Where = field(default=Where(), compare=False)

    @classmethod
    def of(cls, **flat):
        """Settings from flat keyword arguments (dataset=..., seed=...), each routed to
        its group; the others are the groups' defaults."""
        unknown = sorted(set(flat) - set(GROUP))
        if unknown:
            raise TypeError(f"not run settings: {unknown}")
        return cls(**{name: group(**{k: v for k, v in flat.items() if GROUP[k] == name})
                      for name, group in GROUPS.items()})

    def get(self, name):
        """A setting by its flat name (a flag's dest, a config.json key)."""
        return getattr(getattr(self, GROUP[name]), name)

    def replace(self, **flat):
        """These settings with some changed, by flat name."""
        changes = {}
        for k, v in flat.items():
            if k not in GROUP:
                raise TypeError(f"not a run setting: {k}")
            changes.setdefault(GROUP[k], {})[k] = v
        return replace(self, **{g: replace(getattr(self, g), **c) for g, c in changes.items()})

    @staticmethod
    def names():
        return list(GROUP)

    def to_dict(self):
        """The flat dict config.json holds."""
        return {k: v for group in GROUPS for k, v in asdict(getattr(self, group)).items()}

    @classmethod
    def from_dict(cls, d, missing=None):
        """Settings from a config.json (or a checkpoint's copy of one). Keys that are not
        settings are ignored: folders written before this class held the information
        plane's and the table's fields too. A setting the file lacks takes its value from
        `missing` (the settings it is compared with) or else its default: an
        information-plane pair saved only the settings that changed its trajectory."""
        base = (cls() if missing is None else missing).to_dict()
        return cls.of(**{k: d[k] if k in d else base[k] for k in cls.names()})

    @classmethod
    def from_flags(cls, flags):
        """The settings of the flags given ({dest: value}), every other field from the
        layers named in the class docstring. Unchecked: see check()."""
        dataset = flags.get("dataset", Data.dataset)
        model = flags.get("model", Network.model)
        layered = dict(DATASET_DEFAULTS.get(dataset, {}))
        preset = flags.get("preset")
        if preset:
            if preset not in PRESETS:
                raise UserError(f"unknown preset {preset!r}: choose one of {', '.join(PRESETS)}")
            table = PRESETS[preset]
            family = KINDS[model].network.name if model in KINDS else "binary"
            layered.update(table.get("*", {}))
            layered.update(table.get((dataset, family), {}))
        layered.update(flags)
        if "backend" not in layered:
            from ..backend import default_backend
            layered["backend"] = default_backend()          # $IMB_BACKEND, else numpy
        settings = cls.of(**layered)
        if settings.network.test_samples is None:
            settings = settings.replace(test_samples=settings.network.samples)
        return settings

    def differences(self, other):
        """[(name, mine, other's)] of the fields that make a run's identity and differ."""
        return [(k, self.get(k), other.get(k)) for k in IDENTITY
                if self.get(k) != other.get(k)]

    def resumed_with(self, flags, folder):
        """These saved settings with the flags given beside --resume: a flag may change
        where and how the run is computed, and --epochs (which extends it); any other
        flag that differs is refused, not silently ignored."""
        compared = set(IDENTITY) - {"epochs"}
        given = self.replace(**{k: v for k, v in flags.items() if k in GROUP})
        for key in sorted(compared & set(flags)):
            if given.get(key) != self.get(key):
                raise UserError(f"--{key.replace('_', '-')} {show(given.get(key))}: "
                                f"{folder} was made with {key} = "
                                f"{show(self.get(key))} and a resumed run keeps its "
                                f"settings; drop the flag, or start a new run in another "
                                f"--output-dir")
        return given

    def check(self):
        """Refuse, in one line, settings no run can have (see check_run)."""
        check_run(self)
        return self


def split_list(text, flag, example):
    """The entries of a comma list, each stripped; an empty list or an empty entry
    ('5,,5', '5,5,', ',5') is refused: it is a typo, and dropping it silently would run
    something the user did not write."""
    entries = [s.strip() for s in str(text).split(",")]
    if not any(entries):
        raise UserError(f"{flag} {text!r}: give a comma list, e.g. {example}")
    if not all(entries):
        where = ("at the start" if not entries[0] else "at the end" if not entries[-1]
                 else "between two commas")
        raise UserError(f"{flag} {text!r}: an empty entry {where}; give a comma list "
                        f"without gaps, e.g. {example}")
    return entries


def _entries(value, flag, example):
    """A comma list's entries, or a JSON list's (a config.json, a checkpoint)."""
    if isinstance(value, (list, tuple)):
        if not value:
            raise UserError(f"{flag} {value!r}: give a comma list, e.g. {example}")
        return [str(v) for v in value]
    return split_list(value, flag, example)


def parse_sizes(text, flag="--hidden"):
    """Hidden widths: a comma list of positive integers -> a tuple of ints."""
    entries = _entries(text, flag, "512,512")
    try:
        sizes = tuple(int(s) for s in entries)
    except ValueError:
        raise UserError(f"{flag} {text!r}: give a comma list of positive integers, "
                        f"e.g. 512,512") from None
    for k, size in enumerate(sizes, start=1):
        if size < 1:
            raise UserError(f"{flag} {text!r}: hidden layer {k} has width {size}; every "
                            f"hidden layer needs at least one unit")
    return sizes


def weights(text, flag):
    """Per-layer weights: a comma list of finite non-negative numbers -> a tuple of
    floats (one value, or one per layer; per_layer matches it to the network)."""
    entries = _entries(text, flag, "1e-4" if flag == "--betas" else "1")
    try:
        values = tuple(float(s) for s in entries)
    except ValueError:
        raise UserError(f"{flag} {text!r}: give numbers separated by commas") from None
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise UserError(f"{flag} {text!r}: weights must be finite and non-negative")
    return values


def per_layer(values, count, flag):
    """`count` weights from a settings tuple: one value repeated, or `count` values."""
    if len(values) == 1:
        return tuple(values) * count
    if len(values) != count:
        raise UserError(f"{flag} {show(tuple(values))!r}: give one value or {count} values "
                        f"(one per {'layer 0..L' if flag == '--gammas' else 'hidden layer'})")
    return tuple(values)


def check_run(cfg):
    """Refuse, in one line, settings no run can have: every range and combination that
    can be checked before the backend is resolved or any data is read."""
    for group in GROUPS:                          # each number in its declared range
        check_ranges(getattr(cfg, group))
    t = cfg.training
    cfg.network.layer_gammas()
    cfg.network.layer_betas()
    if cfg.where.max_memory > MAX_MEMORY_GB:
        raise UserError(f"--max-memory {cfg.where.max_memory}: at most {MAX_MEMORY_GB:g} GB")
    if t.stage_epochs is not None and not 1 <= t.stage_epochs <= max(t.epochs, 1):
        raise UserError(f"--stage-epochs {t.stage_epochs}: must be between 1 and --epochs "
                        f"({cfg.training.epochs})")
    if cfg.where.fused and cfg.where.backend != "cupy":
        raise UserError("--fused: the fused kernels run on CuPy only; add --backend cupy "
                        "or drop --fused")
    if cfg.network.estimator == "exact" and KINDS[cfg.network.model].tree:    # the tree's estimator
        entries = max_transition_entries(cfg.network.hidden)
        if entries > MAX_EXACT_ENTRIES:
            # A power of two: written as one where the digits would not fit on a line.
            size = f"{entries:,}" if entries < 10 ** 18 else f"2**{entries.bit_length() - 1}"
            raise UserError(f"--estimator exact enumerates every state of every layer: "
                            f"--hidden {show(cfg.network.hidden)} needs a {size}-entry "
                            f"matrix (at most "
                            f"{MAX_EXACT_ENTRIES:,}); use widths such as 10,8,6,4 or a "
                            f"sampled estimator")
    if cfg.where.fused and cfg.network.estimator not in FUSED_ESTIMATORS:
        raise UserError(f"--fused: there is no fused {cfg.network.estimator} estimator (it needs "
                        "every leaf stored); use --no-fused")


def check_backend(cfg, xp):
    """Checks that need the resolved backend (so that a missing CuPy is named first)."""
    if cfg.network.estimator == "exact" and KINDS[cfg.network.model].tree and xp is not np:
        raise UserError("--estimator exact (synthetic12's default) enumerates on the host: "
                        "use --backend numpy, or --estimator raiko to sample on the GPU")


def load(cfg):
    """The dataset a configuration names, split and limited as it says (host arrays)."""
    from ..data import load_dataset
    d = cfg.data
    return load_dataset(d.dataset, cfg.where.data_dir, d.val_size, d.limit_train, d.limit_val,
                        d.limit_test, d.data_file, cfg.where.quiet,
                        dtype=np.dtype(cfg.training.dtype),
                        cifar_train_batches=d.cifar_train_batches)
