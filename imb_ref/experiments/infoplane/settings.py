"""`python run.py infoplane`'s settings: the pairs' run settings, which models and seeds,
how many measurements, how many pairs at once."""

import os
from dataclasses import dataclass

from ...errors import UserError
from ...models import models_in, tree_models
from ...training.settings import MAX_POINTS, RunSettings, check_seeds, own_flags, split_list


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
        from ...backend import default_backend
        flags = dict(flags)
        preset = flags.pop("preset", None)
        layered = {"epochs": cls.EPOCHS, **cls.PRESETS.get(preset, {}), **flags,
                   "dataset": "synthetic12"}
        own = own_flags(cls, layered, exclude=("run", "preset"))
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
