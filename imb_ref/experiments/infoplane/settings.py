"""`python run.py infoplane`'s settings: the pairs' run settings, which models and seeds,
how many measurements, how many pairs at once."""

import os
from dataclasses import dataclass

from ...errors import UserError
from ...models import models_in, tree_models
from ...flags import check_ranges, flag, plain_default, show, take, typed
from ...training.settings import MAX_POINTS, MAX_SEEDS, RunSettings, split_list


def _models_help():
    return f"comma list of {', '.join(tree_models())}"


def model_names(text, name):
    """--models: a comma list of the tree models' names -> a tuple."""
    models = tuple(split_list(text, name, "sfnn,jointimb") if isinstance(text, str)
                   else text)
    bad = [m for m in models if m not in tree_models()]
    if bad:
        raise UserError(f"{name} {show(models)!r}: {bad[0]} is not a model of the tree; "
                        f"choose from {', '.join(tree_models())}")
    return models


def _models_default():
    return f"{','.join(models_in('infoplane'))}: the models of Section 5.3"


@dataclass(frozen=True)
class InfoplaneSettings:
    """`python run.py infoplane`: the pairs' run settings (each pair is `run` with its
    model and seed; run.training.seed is the first seed), which models and seeds, how many
    measurements, how many pairs at once. Without a preset it is the embedded demo."""
    EPOCHS = 300        # the demo's length: a few minutes on 2 CPU cores
    # Section 5.3's protocol: 20,000 epochs, 5 initialisations, 30 measurements.
    PRESETS = {"paper": {"epochs": 20000, "seeds": 5, "points": 30}}

    run: RunSettings
    preset: str = flag(None, "paper: Section 5.3's length, " + ", ".join(
        f"{v:,} {k}" for k, v in PRESETS["paper"].items()) + " (hours)", "experiment",
        choices=tuple(PRESETS), default_text="the demo")
    models: tuple = flag(None, _models_help, "experiment", default_text=_models_default,
                         parse=model_names)
    seeds: int = flag(1, "initialisations seed, seed+1, ...", "experiment", minimum=1,
                      maximum=MAX_SEEDS)
    points: int = flag(16, "log-spaced epochs at which I(Z_l;X) and I(Z_l;Y) are computed",
                       "experiment", minimum=1, maximum=MAX_POINTS)
    jobs: int = flag(max(1, min(3, os.cpu_count() or 1)), "train this many (model, seed) "
                     "pairs at once, one worker process each (NumPy)", "backend",
                     short="-j", default_text="the cores here, up to 3", minimum=1)
    output_dir: str = flag(None, "experiment folder; rerun with the same folder to "
                           "continue an interrupted experiment", "output",
                           default_text="runs/infoplane-<time>")
    # The demo's length, and the preset's, in the run settings' help.
    DEFAULT_TEXT = {"epochs": f"{EPOCHS}; {PRESETS['paper']['epochs']} with --preset paper"}

    def __post_init__(self):
        typed(self)

    @classmethod
    def default_note(cls, f, command):
        """An experiment flag's "(default ...)": the declaration's, then the preset's."""
        text = plain_default(f)
        for name, table in cls.PRESETS.items():
            if f.name in table:
                text += f"; {table[f.name]} with --preset {name}"
        return text

    @classmethod
    def from_flags(cls, flags):
        flags = dict(flags)
        preset = flags.pop("preset", None)
        layered = {"epochs": cls.EPOCHS, **cls.PRESETS.get(preset, {}), **flags,
                   "dataset": "synthetic12"}
        own = take(cls, layered)
        own.setdefault("models", cls.default_models())     # the rows, read now
        run = RunSettings.from_flags(layered).check()
        if run.where.backend == "cupy" and "jobs" not in own:
            own["jobs"] = 1                 # one process drives the GPU
        return cls(run, preset=preset, **own).check()

    def check(self):
        self.model_list()
        check_ranges(self)
        if self.jobs > 1 and self.run.where.backend == "cupy":
            raise UserError("--jobs: the worker processes run NumPy; with --backend cupy "
                            "use --jobs 1 (one process drives the GPU)")
        return self

    @staticmethod
    def default_models():
        return models_in("infoplane")

    def model_list(self):
        return list(self.default_models() if self.models is None else self.models)

    def seed_list(self):
        return list(range(self.run.training.seed, self.run.training.seed + self.seeds))
