"""`python run.py infoplane`: check, make the folder, run the experiment, print the
summary; Ctrl-C says what was kept."""

import os
import sys
from dataclasses import asdict

import numpy as np

from ...files import run_folder, write_json
from ...training.evaluate import chunk_size
from ...training.run import describe, output_folder
from .experiment import run_experiment
from .measure import build


def command(settings, xp, data):
    """`python run.py infoplane`: SFNN, JointIMB, GreedyIMB on the 12-bit task, the exact
    information plane (Section 5.3); the checks, the folder, Ctrl-C's one line."""
    cfg, models, seeds = settings.run, settings.model_list(), settings.seed_list()
    for name in models:                     # fail before creating anything
        for training in (True, False):
            chunk_size(build(name, cfg), np.dtype(cfg.training.dtype).itemsize,
                       cfg.where.max_memory, 1, training)
    out_dir = output_folder(settings.output_dir, "infoplane")
    model = build(models[0], cfg)
    describe(cfg, xp, data, model, out_dir, models)
    print(f"experiment: information plane, models {', '.join(models)}, seeds {seeds}, "
          f"{cfg.training.epochs} epochs, exact I(Z_l;X) and I(Z_l;Y) at {settings.points} "
          f"log-spaced epochs" + (f", preset {settings.preset}" if settings.preset else ""),
          flush=True)
    try:
        with run_folder(out_dir):
            write_json(os.path.join(out_dir, "config.json"),
                       {**asdict(settings), "run": settings.run.to_dict()})   # run flat
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
    with open(os.path.join(out_dir, "summary.md")) as fh:
        print(fh.read(), flush=True)
    print(f"wrote {os.path.join(out_dir, 'infoplane.png')}, infoplane.csv and summary.md "
          f"in {out_dir}", flush=True)
    return 0
